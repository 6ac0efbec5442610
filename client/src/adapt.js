// The adaptation layer: renders what the server decided for this visitor, by name.
// Starts from the page's #vitrine-state (so a reload keeps adaptations), then follows the
// live "vitrine:persona" / "vitrine:adapt" events that push.js dispatches for the server's
// pushes. Every widget carries data-adaptation="<name>" and is rendered at most once; errors
// never reach the page. main.js calls `startAdaptations()`.

import { $, $$, el, emit, on, ready, report, safe, toast } from "./dom.js";
import { getJSON, postJSON } from "./http.js";
import { setCartCount } from "./shop.js";

const LABELS = {
  explorer: "Explorer (Découvreur)",
  hurried: "In a hurry (Précipité)",
  bargain_hunter: "Bargain hunter (Chercheur de bonnes affaires)",
  unknown: "not decided yet",
};

function pageKind() {
  return document.body?.dataset.page || "other";
}

function readInitialState() {
  try {
    const raw = $("#vitrine-state")?.textContent;
    return raw ? JSON.parse(raw) : null;
  } catch (error) {
    report("adapt: state", error);
    return null;
  }
}

/** Insert `widget` (replacing an older one of the same name: never two). */
function place(name, widget, where) {
  for (const old of $$(`[data-adaptation="${name}"]:not(article)`)) old.remove();
  widget.dataset.adaptation = name;
  const anchor = where || $("main") || document.body;
  anchor.prepend(widget);
  return widget;
}

const RENDERERS = {
  tutorial(payload) {
    const panel = el("aside", { class: "adaptation-panel", "aria-label": "Buying guides" },
      el("h2", {}, "Not sure where to start?"),
      el("p", {}, "Our buying guides explain what matters in each category, from materials to care."),
      el("a", { class: "btn btn--secondary", href: payload.href || "/tutorials", "data-tutorial": "guide" },
        "Read the buying guides"));
    place("tutorial", panel);
  },
  "discover-more"(payload) {
    const categories = payload.categories || [];
    if (!categories.length) return;
    const list = el("ul", { class: "adaptation-strip__list" });
    for (const category of categories) {
      list.append(el("li", {}, el("a", { href: category.href, "data-category": category.slug }, category.name)));
    }
    place("discover-more", el("nav", { class: "adaptation-strip", "aria-label": "Discover more" },
      el("span", { class: "adaptation-strip__title" }, "Discover more:"), list));
  },
  "express-checkout"(payload) {
    const root = $("[data-product-id][data-category]");
    if (pageKind() === "product" && root) {
      const button = el("button", { type: "button", class: "btn btn--primary btn--buy-now" }, "Buy now");
      const box = el("div", { class: "adaptation-express" }, button,
        el("span", { class: "adaptation-express__hint" }, "One page, your details prefilled."));
      button.addEventListener("click", safe(async () => {
        button.disabled = true;
        try {
          await postJSON("/add-to-cart", { product_id: root.dataset.productId, quantity: 1 });
          emit("vitrine:cart", { op: "add", pid: root.dataset.productId, q: 1 });
          window.location.href = payload.href || "/checkout?express=1";
        } catch (error) {
          button.disabled = false;
          toast(error?.detail || "Could not start the express checkout.", { kind: "error" });
        }
      }, "express checkout"));
      const actions = $('[data-action="add-to-cart"]', root)?.parentElement;
      place("express-checkout", box, actions || root);
    } else if (pageKind() === "cart") {
      const link = el("a", { class: "btn btn--primary", href: payload.href || "/checkout?express=1" },
        "Express checkout");
      place("express-checkout", el("div", { class: "adaptation-express" }, link));
    }
  },
  async "sticky-cart"() {
    const cart = await getJSON("/api/cart");
    if (!cart || !cart.item_count) return;
    const bar = el("div", { class: "adaptation-sticky-cart", role: "region", "aria-label": "Cart summary" },
      el("span", {}, `${cart.item_count} in cart · €${cart.total}`),
      el("a", { class: "btn btn--primary", href: "/checkout?express=1" }, "Check out"));
    for (const old of $$('[data-adaptation="sticky-cart"]')) old.remove();
    bar.dataset.adaptation = "sticky-cart";
    document.body.append(bar);
    setCartCount(cart.item_count);
  },
  coupon(payload) {
    if (!payload.code) return;
    const apply = el("button", { type: "button", class: "btn btn--secondary" }, "Apply to my cart");
    apply.addEventListener("click", safe(async () => {
      try {
        await postJSON("/apply-coupon", { code: payload.code });
        emit("vitrine:cart", { op: "coupon" });
        toast(`Coupon ${payload.code} applied`);
      } catch (error) {
        toast(error?.detail || "Add something to your cart first, then apply the coupon.", { kind: "error" });
      }
    }, "apply coupon"));
    const banner = el("div", { class: "adaptation-banner", role: "note" },
      el("strong", {}, `${payload.percent_off}% off your order`),
      el("span", {}, " with your personal code "),
      el("code", { "data-coupon-code": payload.code }, payload.code),
      el("span", { class: "adaptation-banner__until" }, ` (single use, until ${payload.valid_until})`),
      apply);
    place("coupon", banner);
  },
  "deal-highlight"() {
    for (const card of $$("article[data-product-id]")) {
      if ($("[data-discount]", card)) {
        card.classList.add("deal-highlight");
        card.dataset.adaptation = "deal-highlight";
      }
    }
  },
  "sort-discount"() {
    if (pageKind() !== "catalog") return;
    const params = new URLSearchParams(window.location.search);
    if (params.get("sort")) return;
    params.set("sort", "discount");
    const note = el("p", { class: "adaptation-note" }, "Biggest discounts first? ",
      el("a", { href: `/catalog?${params}` }, "Sort by discount"));
    place("sort-discount", note);
  },
};

function removeAll() {
  for (const node of $$("[data-adaptation]")) {
    if (node.matches("article[data-product-id]")) {
      node.classList.remove("deal-highlight");
      delete node.dataset.adaptation;
    } else {
      node.remove();
    }
  }
}

/** Render `adaptations` (the server's list), removing widgets no longer wanted. */
async function render(state, adaptations) {
  state.adaptations = adaptations || [];
  if (state.optedOut) return removeAll();
  const wanted = new Set(state.adaptations.map((a) => a.name));
  for (const node of $$("[data-adaptation]")) {
    const name = node.dataset.adaptation;
    if (!wanted.has(name) && name !== "personalization") {
      if (node.matches("article[data-product-id]")) {
        node.classList.remove("deal-highlight");
        delete node.dataset.adaptation;
      } else node.remove();
    }
  }
  for (const adaptation of state.adaptations) {
    const pages = adaptation.payload?.pages || [];
    const renderer = RENDERERS[adaptation.name];
    if (!renderer || (pages.length && !pages.includes(pageKind()))) continue;
    try {
      await renderer(adaptation.payload || {});
    } catch (error) {
      report(`adapt: ${adaptation.name}`, error);
    }
  }
  renderControls(state);
}

/** "Why am I seeing this?" and the opt-out, shown whenever the page is personalized. */
function renderControls(state) {
  $("[data-personalization-bar]")?.remove();
  if (state.optedOut || !state.adaptations.length) return;
  const why = el("button", { type: "button", class: "link-button", "data-action": "why-personalized",
    "aria-expanded": "false" }, "Why am I seeing this?");
  const optOut = el("button", { type: "button", class: "link-button", "data-action": "personalization-opt-out" },
    "Turn off personalization");
  const details = el("div", { class: "personalization-why", hidden: "" });
  const bar = el("div", { class: "personalization-bar", dataset: { personalizationBar: "" } }, why, optOut, details);
  document.body.append(bar);
}

function explain(state, details) {
  const reasons = state.reasons.length ? state.reasons : ["we do not have reasons to show yet"];
  const list = el("ul", {});
  for (const reason of reasons) list.append(el("li", {}, reason));
  details.replaceChildren(
    el("p", {}, "We adapt this shop to how you browse. Right now we think you shop as: ",
      el("strong", { "data-why-persona": state.persona }, LABELS[state.persona] || state.persona)),
    el("p", {}, "Because you:"), list,
    el("p", { class: "personalization-why__note" },
      "Only how you move through the shop is used, never what you type. You can turn this off at any time."));
}

function bindControls(state) {
  on("click", '[data-action="why-personalized"]', (event, button) => {
    const details = button.parentElement.querySelector(".personalization-why");
    if (!details) return;
    const open = details.hidden;
    if (open) explain(state, details);
    details.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  });
  on("click", '[data-action="personalization-opt-out"]', async () => {
    state.optedOut = true;
    removeAll();
    $("[data-personalization-bar]")?.remove();
    try {
      await postJSON("/api/personalization", { opt_out: true });
      toast("Personalization is off. You can turn it back on in Privacy settings.");
    } catch (error) {
      report("adapt: opt-out", error);
    }
  });
  on("click", '[data-action="personalization-opt-in"]', async () => {
    const reply = await postJSON("/api/personalization", { opt_out: false });
    state.optedOut = false;
    await render(state, reply.adaptations || []);
    toast("Personalization is on.");
  });
}

/**
 * Render the page's initial adaptations and follow the live pushes; returns the visitor's
 * state as the page knows it ({persona, reasons, arm, optedOut, adaptations}).
 */
export function startAdaptations() {
  const state = { persona: "unknown", reasons: [], arm: "control", optedOut: false, adaptations: [] };
  ready(async () => {
    const initial = readInitialState();
    if (initial) {
      state.persona = initial.persona || "unknown";
      state.reasons = initial.reasons || [];
      state.arm = initial.arm || "control";
      state.optedOut = Boolean(initial.opted_out);
    }
    bindControls(state);
    document.addEventListener("vitrine:persona", safe((event) => {
      state.persona = event.detail?.persona || state.persona;
      state.reasons = event.detail?.reasons || state.reasons;
    }, "adapt: persona"));
    document.addEventListener("vitrine:adapt", safe((event) => {
      if (!event.detail) return;
      state.persona = event.detail.persona || state.persona;
      state.reasons = event.detail.reasons || state.reasons;
      return render(state, event.detail.adaptations || []);
    }, "adapt: push"));
    await render(state, initial?.adaptations || []);
  });
  return state;
}
