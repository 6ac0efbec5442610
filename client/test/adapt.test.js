// adapt.js: the adaptation layer renders the server's decisions by name, follows live pushes,
// explains itself and honours the opt-out. Payloads in the shape server/services/adaptation.py builds.
import { test } from "node:test";
import assert from "node:assert/strict";

import { startAdaptations } from "../src/adapt.js";
import { emit } from "../src/dom.js";
import { h, installPage, settle } from "./helpers/dom.js";

const TUTORIAL = { name: "tutorial", payload: { pages: ["catalog", "product", "home"], href: "/tutorials" } };
const DISCOVER = { name: "discover-more", payload: { pages: ["catalog", "product", "home"], categories: [{ slug: "garden", name: "Garden", href: "/catalog?category=garden" }] } };
const COUPON = { name: "coupon", payload: { pages: [], code: "VIT-ABC123", percent_off: 15, valid_until: "2026-12-31" } };
const DEALS = { name: "deal-highlight", payload: { pages: ["home", "catalog", "product"] } };
const SORT = { name: "sort-discount", payload: { pages: ["catalog"] } };
const EXPRESS = { name: "express-checkout", payload: { pages: ["product", "cart"], href: "/checkout?express=1" } };

function card(pid, discount) {
  return h("article", { "data-product-id": pid }, h("span", { "data-price": "10.00" }), discount ? h("span", { "data-discount": discount }) : null);
}

function adaptPage({ page = "catalog", path = "/catalog", search = "", state = null, routes = {}, body } = {}) {
  const handles = installPage({
    path,
    search,
    state,
    bodyAttributes: { "data-page": page, "data-persona": state?.persona ?? "unknown", "data-arm": "treatment" },
    routes,
    body: body ?? [h("main", {}, h("h1", {}, "Catalog"), card("p001", "20"), card("p002", null))],
  });
  const events = [];
  handles.document.addEventListener("vitrine:cart", (event) => events.push(event.detail));
  const adaptState = startAdaptations();
  return { ...handles, events, adaptState, $: (s) => handles.document.querySelector(s), $$: (s) => handles.document.querySelectorAll(s) };
}

const names = (page) => page.$$("[data-adaptation]").map((node) => node.getAttribute("data-adaptation"));

test("the page's initial state is rendered at once, by name, only on the pages each one lists", async () => {
  const cartOnly = { name: "coupon", payload: { ...COUPON.payload, pages: ["cart"] } };
  const page = adaptPage({ state: { persona: "explorer", reasons: ["viewed 6 categories"], arm: "treatment", adaptations: [TUTORIAL, DISCOVER, EXPRESS, cartOnly] } });
  await settle();
  assert.deepEqual(names(page).sort(), ["discover-more", "tutorial"], "express-checkout and this coupon are for other pages");
  const panel = page.$('[data-adaptation="tutorial"]');
  assert.equal(panel.parentElement, page.$("main"), "inserted at the top of <main>");
  assert.equal(page.$('[data-adaptation="tutorial"] a').getAttribute("href"), "/tutorials");
  assert.equal(page.$('[data-adaptation="discover-more"] a[data-category="garden"]').getAttribute("href"), "/catalog?category=garden");
  assert.ok(page.$("[data-personalization-bar]"), "a personalized page always offers the explanation and the opt-out");
  assert.equal(page.adaptState.persona, "explorer");
});

test("a live push replaces what was shown: never two of a kind, nothing left from before", async () => {
  const page = adaptPage({ state: { persona: "explorer", adaptations: [TUTORIAL] } });
  await settle();
  emit("vitrine:adapt", { persona: "explorer", reasons: [], adaptations: [TUTORIAL, DISCOVER] });
  await settle();
  assert.deepEqual(names(page).sort(), ["discover-more", "tutorial"]);
  assert.equal(page.$$('[data-adaptation="tutorial"]').length, 1);
  emit("vitrine:adapt", { persona: "bargain_hunter", reasons: ["sorted by price"], adaptations: [COUPON, DEALS, SORT] });
  await settle();
  assert.deepEqual(names(page).sort(), ["coupon", "deal-highlight", "sort-discount"]);
  assert.equal(page.$('[data-product-id="p001"]').classList.contains("deal-highlight"), true, "the discounted card");
  assert.equal(page.$('[data-product-id="p002"]').hasAttribute("data-adaptation"), false, "a full-price card is left alone");
  assert.equal(page.$('[data-adaptation="sort-discount"] a').getAttribute("href"), "/catalog?sort=discount");
  assert.equal(page.adaptState.persona, "bargain_hunter");
  emit("vitrine:adapt", { persona: "unknown", reasons: [], adaptations: [] });
  await settle();
  assert.deepEqual(names(page), []);
  assert.equal(page.$('[data-product-id="p001"]').classList.contains("deal-highlight"), false, "the highlight is undone");
  assert.equal(page.$("[data-personalization-bar]"), null);
});

test("the coupon banner shows the code and applies it to the cart", async () => {
  const page = adaptPage({ state: { persona: "bargain_hunter", adaptations: [COUPON] }, routes: { "POST /apply-coupon": { body: { item_count: 1 } } } });
  await settle();
  const code = page.$("[data-coupon-code]");
  assert.equal(code.getAttribute("data-coupon-code"), "VIT-ABC123");
  assert.equal(code.textContent, "VIT-ABC123");
  assert.match(page.$('[data-adaptation="coupon"]').textContent, /15% off your order.*until 2026-12-31/);
  page.$('[data-adaptation="coupon"] button').click();
  await settle();
  const post = page.calls.find((call) => call.method === "POST");
  assert.deepEqual([post.url, post.body], ["/apply-coupon", { code: "VIT-ABC123" }]);
  assert.deepEqual(page.events, [{ op: "coupon" }]);
  assert.equal(page.$("[data-toast] span").textContent, "Coupon VIT-ABC123 applied");
});

test("express checkout on a product page adds one item and goes to the one-page checkout", async () => {
  const page = adaptPage({
    page: "product",
    path: "/product/p001",
    state: { persona: "hurried", adaptations: [EXPRESS] },
    routes: { "POST /add-to-cart": { body: { item_count: 1 } } },
    body: [h("main", {}, h("article", { "data-product-id": "p001", "data-category": "home" },
      h("div", { class: "actions" }, h("button", { "data-action": "add-to-cart", "data-product-id": "p001" }, "Add to cart"))))],
  });
  await settle();
  const box = page.$('[data-adaptation="express-checkout"]');
  assert.equal(box.parentElement, page.$(".actions"), "next to the add-to-cart button");
  box.querySelector("button").click();
  await settle();
  assert.deepEqual(page.calls.find((call) => call.method === "POST").body, { product_id: "p001", quantity: 1 });
  assert.deepEqual(page.events, [{ op: "add", pid: "p001", q: 1 }]);
  assert.deepEqual(page.navigations, [["href", "/checkout?express=1"]]);
});

test("one failing widget is reported and the others still render", async () => {
  const STICKY = { name: "sticky-cart", payload: { pages: [] } };
  const page = adaptPage({ state: { persona: "hurried", adaptations: [STICKY, TUTORIAL] }, routes: { "GET /api/cart": { status: 503, body: { error: "unavailable" } } } });
  await settle();
  assert.deepEqual(names(page), ["tutorial"]);
  assert.equal(page.reports.length, 1);
  assert.match(page.reports[0][0], /adapt: sticky-cart/);
});

test("the sticky cart summarises the cart from the API", async () => {
  const STICKY = { name: "sticky-cart", payload: { pages: [] } };
  const page = adaptPage({ state: { persona: "hurried", adaptations: [STICKY] }, routes: { "GET /api/cart": { body: { item_count: 2, total: "30.00" } } }, body: [h("span", { "data-cart-count": "" }, "0")] });
  await settle();
  const bar = page.$('[data-adaptation="sticky-cart"]');
  assert.equal(bar.parentElement, page.document.body);
  assert.match(bar.textContent, /2 in cart · €30\.00/);
  assert.equal(page.$("[data-cart-count]").textContent, "2");
});

test("'why am I seeing this?' names the persona and the reasons the server pushed", async () => {
  const page = adaptPage({ state: { persona: "explorer", reasons: ["viewed 6 categories"], adaptations: [TUTORIAL] } });
  await settle();
  emit("vitrine:persona", { persona: "bargain_hunter", reasons: ["sorted by discount", "opened 3 sale items"] });
  const why = page.$('[data-action="why-personalized"]');
  why.click();
  assert.equal(why.getAttribute("aria-expanded"), "true");
  const details = page.$(".personalization-why");
  assert.equal(details.hidden, false);
  assert.equal(details.querySelector("[data-why-persona]").getAttribute("data-why-persona"), "bargain_hunter");
  assert.deepEqual(details.querySelectorAll("li").map((li) => li.textContent), ["sorted by discount", "opened 3 sale items"]);
  why.click();
  assert.equal(details.hidden, true);
});

test("the opt-out removes every adaptation at once, records it, and later pushes render nothing", async () => {
  const page = adaptPage({ state: { persona: "bargain_hunter", adaptations: [COUPON, DEALS] }, routes: { "POST /api/personalization": { body: { opt_out: true } } } });
  await settle();
  page.$('[data-action="personalization-opt-out"]').click();
  assert.deepEqual(names(page), [], "at once, before the server answers");
  await settle();
  assert.deepEqual(page.calls.find((call) => call.method === "POST").body, { opt_out: true });
  emit("vitrine:adapt", { persona: "bargain_hunter", adaptations: [COUPON] });
  await settle();
  assert.deepEqual(names(page), []);
});

test("a visitor who opted out sees nothing from the initial state; opting back in renders the reply", async () => {
  const page = adaptPage({
    state: { persona: "bargain_hunter", opted_out: true, adaptations: [COUPON] },
    routes: { "POST /api/personalization": { body: { adaptations: [COUPON] } } },
    body: [h("main", {}, h("button", { "data-action": "personalization-opt-in" }, "Turn it on"))],
  });
  await settle();
  assert.deepEqual(names(page), []);
  page.$('[data-action="personalization-opt-in"]').click();
  await settle();
  assert.deepEqual(page.calls.find((call) => call.method === "POST").body, { opt_out: false });
  assert.deepEqual(names(page), ["coupon"]);
});

test("a broken #vitrine-state is reported, and the page stays as the server drew it", async () => {
  const page = adaptPage({ body: [h("script", { type: "application/json", id: "vitrine-state" }, "{not json"), h("main", {})] });
  await settle();
  assert.deepEqual(names(page), []);
  assert.match(page.reports[0][0], /adapt: state/);
});
