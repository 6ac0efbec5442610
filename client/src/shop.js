// Storefront behaviour: cart API calls, catalog navigation, checkout.
// Everything here is progressive: the pages render fully on the server; this module
// makes the buttons and forms talk to the JSON API (http.js) and keeps the page in step.
// Importing it does nothing: main.js calls `startShop()`.
//
// Events for other modules (dispatched on `document`):
//   "vitrine:cart"       {op, pid?, q?}   after the server accepted a cart action; `op` is one of
//                        schema.js CART_OPS: add, update, remove, coupon, checkout (link clicked),
//                        order (order placed, with order_id and total)
//   "vitrine:cart-error" {op, error}      a cart action the server refused (not a cart event)
//   "vitrine:catalog"    {kind: "sort", value} | {kind: "filter", filter: "on-sale"|"category", value}
//                        | {kind: "search", length}      right before navigating
// Search text never appears in an event, only its length.

import { $, $$, emit, money, on, ready, report, safe, toast } from "./dom.js";
import { ApiError, errorMessage, getJSON, postJSON } from "./http.js";

const COUPON_MESSAGES = {
  unknown_coupon: "We don't know that coupon code.",
  coupon_expired: "This coupon has expired.",
  coupon_not_yet_valid: "This coupon is not valid yet.",
  coupon_used_up: "This coupon has already been used.",
  coupon_minimum_not_met: "Your coupon needs a higher subtotal to apply.",
};

/* ---------------------------------------------------------------- cart count */

export function setCartCount(count) {
  for (const el of $$("[data-cart-count]")) {
    const text = String(count ?? 0);
    if (el.textContent !== text) {
      el.textContent = text;
      el.classList.remove("is-bumped");
      // Restart the small animation.
      void el.offsetWidth;
      el.classList.add("is-bumped");
    }
  }
}

async function refreshCartCount() {
  if (!$("[data-cart-count]")) return;
  try {
    const cart = await getJSON("/api/cart");
    setCartCount(cart?.item_count ?? 0);
  } catch (error) {
    report("cart count", error);
  }
}

/* ---------------------------------------------------------------- add to cart */

function quantityFor(button) {
  const form = button.closest("[data-buy-form]");
  const input = form ? $('[data-field="quantity"], input[name="quantity"]', form) : null;
  if (!input) return { quantity: 1, input: null };
  const quantity = Number.parseInt(input.value, 10);
  return { quantity, input };
}

async function addToCart(event, button) {
  event.preventDefault();
  if (button.disabled || button.getAttribute("aria-busy") === "true") return;
  const pid = button.dataset.productId || button.closest("[data-product-id]")?.dataset.productId;
  if (!pid) return;
  const { quantity, input } = quantityFor(button);
  if (!Number.isInteger(quantity) || quantity < 1) {
    input?.setAttribute("aria-invalid", "true");
    input?.focus();
    toast("Please choose a quantity of at least 1.", { kind: "error" });
    return;
  }
  const max = input ? Number.parseInt(input.max, 10) : NaN;
  if (Number.isInteger(max) && quantity > max) {
    input?.setAttribute("aria-invalid", "true");
    input?.focus();
    toast(`You can add at most ${max} of this item.`, { kind: "error" });
    return;
  }
  input?.removeAttribute("aria-invalid");
  button.setAttribute("aria-busy", "true");
  button.classList.add("is-busy");
  try {
    const cart = await postJSON("/add-to-cart", { product_id: pid, quantity });
    setCartCount(cart?.item_count ?? 0);
    emit("vitrine:cart", { op: "add", pid, q: quantity });
    if (document.body.dataset.page === "cart") {
      window.location.reload();
      return;
    }
    toast(quantity > 1 ? `Added ${quantity} to cart` : "Added to cart", {
      link: { href: "/cart", label: "View cart" },
    });
  } catch (error) {
    emit("vitrine:cart-error", { op: "add", pid, error: error?.code || "network" });
    toast(errorMessage(error, "Could not add this item to your cart."), { kind: "error" });
  } finally {
    button.removeAttribute("aria-busy");
    button.classList.remove("is-busy");
  }
}

/* ---------------------------------------------------------------- cart page */

function setAmount(el, attr, amount) {
  if (!el) return;
  const changed = el.getAttribute(attr) !== amount;
  el.setAttribute(attr, amount);
  el.textContent = money(amount);
  if (changed) {
    el.classList.remove("is-updated");
    void el.offsetWidth;
    el.classList.add("is-updated");
  }
}

function renderCouponMessage(cart, root, errorText) {
  const message = $("[data-coupon-message]", root);
  if (!message) return;
  message.classList.remove("form-message--error", "form-message--ok");
  if (errorText) {
    message.textContent = errorText;
    message.classList.add("form-message--error");
  } else if (cart.coupon_error) {
    message.textContent = COUPON_MESSAGES[cart.coupon_error] || "This coupon can no longer be used.";
    message.classList.add("form-message--error");
  } else if (cart.coupon) {
    message.textContent = `Coupon ${cart.coupon.code} applied: ${cart.coupon.percent_off}% off.`;
    message.classList.add("form-message--ok");
  } else {
    message.textContent = "";
  }
}

/** Bring the server-rendered cart page in line with a cart payload from the API. */
export function renderCart(cart) {
  setCartCount(cart?.item_count ?? 0);
  const root = $("[data-cart]");
  if (!root || !cart) return;
  if (!cart.items || cart.items.length === 0) {
    // The empty state is rendered by the server.
    window.location.reload();
    return;
  }
  const byId = new Map(cart.items.map((item) => [item.product_id, item]));
  for (const row of $$("[data-cart-item]", root)) {
    const item = byId.get(row.dataset.cartItem);
    if (!item) {
      row.remove();
      continue;
    }
    const input = $('[data-action="update-quantity"]', row);
    if (input) {
      input.value = String(item.quantity);
      input.dataset.committed = String(item.quantity);
      input.max = String(Math.max(1, Math.min(cart.max_quantity ?? 99, item.stock)));
      input.removeAttribute("aria-invalid");
    }
    const lineTotal = $("[data-line-total]", row);
    if (lineTotal) lineTotal.textContent = money(item.line_total);
  }
  if (byId.size !== $$("[data-cart-item]", root).length) {
    // An item we do not show (added elsewhere): let the server draw the page.
    window.location.reload();
    return;
  }
  const count = $("[data-cart-item-count]", root);
  if (count) count.textContent = String(cart.item_count);
  const word = $("[data-cart-item-word]", root);
  if (word) word.textContent = cart.item_count === 1 ? "item" : "items";

  setAmount($("[data-subtotal]", root), "data-subtotal", cart.subtotal);
  setAmount($("[data-total]", root), "data-total", cart.total);

  const productRow = $('[data-row="product-discount"]', root);
  if (productRow) {
    productRow.hidden = cart.product_discount === "0.00";
    const dd = $("[data-product-discount]", productRow);
    if (dd) dd.textContent = money(cart.product_discount);
  }
  const couponRow = $('[data-row="coupon"]', root);
  if (couponRow) {
    couponRow.hidden = !cart.coupon;
    const label = $("[data-coupon-code-label]", couponRow);
    if (label) label.textContent = cart.coupon ? cart.coupon.code : "";
    const dd = $("[data-coupon-discount]", couponRow);
    if (dd) dd.textContent = `−${money(cart.coupon_discount)}`;
  }
  renderCouponMessage(cart, root);
}

// One request at a time per product, so quick spinner clicks land in order.
const rowQueues = new Map();

function queueFor(pid, task) {
  const previous = rowQueues.get(pid) || Promise.resolve();
  const next = previous.catch(() => undefined).then(task);
  rowQueues.set(pid, next);
  return next;
}

async function updateQuantity(event, input) {
  const pid = input.dataset.productId;
  const row = input.closest("[data-cart-item]");
  const committed = input.dataset.committed || input.defaultValue;
  const quantity = Number.parseInt(input.value, 10);
  if (!pid) return;
  if (!Number.isInteger(quantity) || quantity < 1) {
    input.value = committed;
    toast("Quantity must be at least 1. Use Remove to take an item out.", { kind: "error" });
    return;
  }
  if (String(quantity) === committed) return;
  await queueFor(pid, async () => {
    row?.classList.add("is-busy");
    try {
      const cart = await postJSON("/update-cart", { product_id: pid, quantity });
      emit("vitrine:cart", { op: "update", pid, q: quantity });
      renderCart(cart);
    } catch (error) {
      input.value = committed;
      emit("vitrine:cart-error", { op: "update", pid, error: error?.code || "network" });
      toast(errorMessage(error, "Could not change the quantity."), { kind: "error" });
    } finally {
      row?.classList.remove("is-busy");
    }
  });
}

async function removeFromCart(event, button) {
  event.preventDefault();
  const pid = button.dataset.productId;
  if (!pid || button.disabled) return;
  const row = button.closest("[data-cart-item]");
  button.disabled = true;
  await queueFor(pid, async () => {
    row?.classList.add("is-busy");
    try {
      const cart = await postJSON("/remove-from-cart", { product_id: pid });
      emit("vitrine:cart", { op: "remove", pid });
      toast("Item removed");
      renderCart(cart);
    } catch (error) {
      button.disabled = false;
      emit("vitrine:cart-error", { op: "remove", pid, error: error?.code || "network" });
      toast(errorMessage(error, "Could not remove this item."), { kind: "error" });
    } finally {
      row?.classList.remove("is-busy");
    }
  });
}

async function applyCoupon(event, form) {
  event.preventDefault();
  const input = $('[data-field="coupon"]', form);
  const button = $('[data-action="apply-coupon"]', form);
  const code = (input?.value || "").trim();
  const root = $("[data-cart]") || form;
  if (!code) {
    input?.setAttribute("aria-invalid", "true");
    input?.focus();
    renderCouponMessage({}, root, "Enter a coupon code first.");
    return;
  }
  if (button) button.disabled = true;
  try {
    const cart = await postJSON("/apply-coupon", { code });
    input?.removeAttribute("aria-invalid");
    if (input && cart?.coupon) input.value = cart.coupon.code;
    emit("vitrine:cart", { op: "coupon" });
    renderCart(cart);
    if (!$("[data-cart]")) renderCouponMessage(cart, root);
  } catch (error) {
    input?.setAttribute("aria-invalid", "true");
    emit("vitrine:cart-error", { op: "coupon", error: error?.code || "network" });
    const text = (error instanceof ApiError && COUPON_MESSAGES[error.code]) || errorMessage(error);
    const detail =
      error instanceof ApiError && error.code === "coupon_minimum_not_met" && error.detail
        ? `This coupon ${error.detail}.`
        : text;
    renderCouponMessage({}, root, detail);
  } finally {
    if (button) button.disabled = false;
  }
}

/* ---------------------------------------------------------------- catalog */

function navigateCatalog(change) {
  const url = new URL(window.location.href);
  if (url.pathname !== "/catalog") {
    url.pathname = "/catalog";
    url.search = "";
  }
  const params = url.searchParams;
  for (const [key, value] of Object.entries(change)) {
    if (value === null || value === undefined || value === "") params.delete(key);
    else params.set(key, value);
  }
  params.delete("page");
  url.hash = "";
  window.location.assign(url.pathname + (params.toString() ? `?${params}` : ""));
}

function onSortChange(event, select) {
  const value = select.value;
  emit("vitrine:catalog", { kind: "sort", value });
  navigateCatalog({ sort: value });
}

function onSaleToggle(event, toggle) {
  const checked = toggle.type === "checkbox" ? toggle.checked : toggle.getAttribute("aria-pressed") !== "true";
  emit("vitrine:catalog", { kind: "filter", filter: "on-sale", value: checked ? "on" : "off" });
  navigateCatalog({ on_sale: checked ? "1" : null });
}

function onCategoryLink(event, link) {
  emit("vitrine:catalog", { kind: "filter", filter: "category", value: link.dataset.category });
}

function onSearchSubmit(event, form) {
  const input = $('[data-action="search"]', form);
  if (!input) return;
  const q = input.value.trim();
  if (!q && form.matches('[role="search"]')) {
    // An empty header search just shows the whole catalog.
    event.preventDefault();
    emit("vitrine:catalog", { kind: "search", length: 0 });
    window.location.assign("/catalog");
    return;
  }
  emit("vitrine:catalog", { kind: "search", length: q.length });
}

/* ---------------------------------------------------------------- checkout */

function newIdempotencyKey() {
  const bytes = new Uint8Array(18);
  crypto.getRandomValues(bytes);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

const SHIPPING_FIELDS = ["name", "email", "address", "city", "zip", "country"];

function initCheckout(form) {
  const keyInput = $("[data-idempotency-key]", form) || $('input[name="idempotency_key"]', form);
  if (keyInput && !keyInput.value) keyInput.value = newIdempotencyKey();
  const message = $("[data-checkout-message]", form);
  for (const name of SHIPPING_FIELDS) {
    const field = form.elements.namedItem(name);
    field?.addEventListener?.(
      "input",
      safe(() => {
        field.removeAttribute("aria-invalid");
        if (message && !message.hidden && !form.querySelector('[aria-invalid="true"]')) {
          message.hidden = true;
          message.textContent = "";
        }
      }, "checkout input"),
    );
  }
}

async function placeOrder(event, form) {
  event.preventDefault();
  const button = $('[data-action="place-order"]', form);
  const message = $("[data-checkout-message]", form);
  if (button?.disabled) return;

  const showError = (text) => {
    if (!message) {
      toast(text, { kind: "error" });
      return;
    }
    message.textContent = text;
    message.hidden = false;
  };
  if (message) {
    message.hidden = true;
    message.textContent = "";
  }

  let firstInvalid = null;
  for (const name of SHIPPING_FIELDS) {
    const field = form.elements.namedItem(name);
    if (!field) continue;
    field.value = field.value.trim();
    const valid = field.checkValidity();
    if (valid) field.removeAttribute("aria-invalid");
    else field.setAttribute("aria-invalid", "true");
    if (!valid && !firstInvalid) firstInvalid = field;
  }
  if (firstInvalid) {
    showError("Please complete the highlighted fields.");
    firstInvalid.reportValidity?.();
    firstInvalid.focus();
    return;
  }

  const shipping = {};
  for (const name of SHIPPING_FIELDS) shipping[name] = form.elements.namedItem(name)?.value ?? "";
  const method = form.querySelector('input[name="payment"]:checked')?.value || "card";
  const keyInput = $('input[name="idempotency_key"]', form);
  if (keyInput && !keyInput.value) keyInput.value = newIdempotencyKey();
  const idempotency_key = keyInput?.value || newIdempotencyKey();

  const label = button?.innerHTML;
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Placing your order…";
  }
  try {
    const order = await postJSON("/process-order", { shipping, payment: { method }, idempotency_key });
    emit("vitrine:cart", { op: "order", order_id: order?.order_id, total: order?.total });
    window.location.href = order?.url || `/order/${encodeURIComponent(order?.order_id ?? "")}`;
  } catch (error) {
    emit("vitrine:cart-error", { op: "order", error: error?.code || "network" });
    if (error instanceof ApiError && error.code === "invalid_field" && error.detail) {
      const field = SHIPPING_FIELDS.find((name) => error.detail.startsWith(name));
      if (field) {
        const input = form.elements.namedItem(field);
        input?.setAttribute("aria-invalid", "true");
        input?.focus();
      }
    }
    showError(errorMessage(error, "We could not place your order. Please try again."));
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (label !== undefined) button.innerHTML = label;
    }
  }
}

/* ---------------------------------------------------------------- wiring */

function init() {
  on("click", '[data-action="add-to-cart"]', addToCart);
  on("submit", "[data-buy-form]", (event) => event.preventDefault());
  on("change", '[data-action="update-quantity"]', updateQuantity);
  on("click", '[data-action="remove-from-cart"]', removeFromCart);
  on("submit", "[data-coupon-form]", applyCoupon);
  on("click", '[data-action="checkout"]', () => emit("vitrine:cart", { op: "checkout" }));
  on("click", 'a[data-category][href^="/catalog"]', onCategoryLink);
  on("change", '[data-action="sort"]', onSortChange);
  on("change", 'input[type="checkbox"][data-filter="on-sale"]', onSaleToggle);
  on("click", 'button[data-filter="on-sale"]', onSaleToggle);
  on("submit", "form", (event, form) => {
    if ($('[data-action="search"]', form)) onSearchSubmit(event, form);
  });
  on("submit", "[data-checkout-form]", placeOrder);

  for (const input of $$('[data-action="update-quantity"]')) input.dataset.committed = input.value;
  for (const form of $$("[data-checkout-form]")) initCheckout(form);
  refreshCartCount();
  // Back/forward cache: the cart may have changed on another page.
  window.addEventListener(
    "pageshow",
    safe((event) => {
      if (event.persisted) refreshCartCount();
    }, "pageshow"),
  );
}

/** Bind the storefront's buttons and forms (delegated on `document`) once the DOM is parsed. */
export function startShop() {
  ready(init);
}
