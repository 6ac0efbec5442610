// shop.js: cart calls, catalog navigation and checkout against a fake page and a fake API.
import { test } from "node:test";
import assert from "node:assert/strict";

import { renderCart, setCartCount, startShop } from "../src/shop.js";
import { fire, h, installPage, settle } from "./helpers/dom.js";

const HEADER = () => h("header", {}, h("a", { href: "/cart" }, "Cart ", h("span", { "data-cart-count": "" }, "0")));
const CART_API = (count = 0) => ({ "GET /api/cart": { body: { item_count: count } } });

function shop(options) {
  const page = installPage(options);
  const events = [];
  for (const type of ["vitrine:cart", "vitrine:cart-error", "vitrine:catalog"]) {
    page.document.addEventListener(type, (event) => events.push([type, event.detail]));
  }
  startShop();
  return { ...page, events, $: (selector) => page.document.querySelector(selector) };
}

function productPage(routes, { stock = 5 } = {}) {
  return shop({
    path: "/product/p001",
    bodyAttributes: { "data-page": "product" },
    routes: { ...CART_API(0), ...routes },
    body: [
      HEADER(),
      h("main", {}, h("article", { "data-product-id": "p001", "data-category": "home" },
        h("form", { "data-buy-form": "" },
          h("input", { type: "number", name: "quantity", "data-field": "quantity", value: "1", min: "1", max: String(stock) }),
          h("button", { type: "submit", "data-action": "add-to-cart", "data-product-id": "p001" }, "Add to cart")))),
    ],
  });
}

test("importing shop.js does nothing: startShop binds the page", async () => {
  const page = installPage({ routes: CART_API(3), body: [HEADER(), h("button", { "data-action": "add-to-cart", "data-product-id": "p001" })] });
  page.document.querySelector('[data-action="add-to-cart"]').click();
  await settle();
  assert.deepEqual(page.calls, [], "no handler before startShop()");
  startShop();
  await settle();
  assert.deepEqual(page.calls.map((call) => `${call.method} ${call.url}`), ["GET /api/cart"], "the count is refreshed on start");
  assert.equal(page.document.querySelector("[data-cart-count]").textContent, "3");
});

test("add to cart posts the product and quantity, updates the count and tells the tracker", async () => {
  const page = productPage({ "POST /add-to-cart": { body: { item_count: 3 } } });
  await settle();
  page.$('[data-field="quantity"]').value = "2";
  const click = fire(page.$('[data-action="add-to-cart"]'), "click");
  assert.equal(click.defaultPrevented, true, "the form is not submitted");
  await settle();
  const post = page.calls.find((call) => call.method === "POST");
  assert.deepEqual([post.url, post.body], ["/add-to-cart", { product_id: "p001", quantity: 2 }]);
  assert.equal(post.headers["X-CSRF-Token"], "csrf-token-123");
  assert.equal(page.$("[data-cart-count]").textContent, "3");
  assert.deepEqual(page.events, [["vitrine:cart", { op: "add", pid: "p001", q: 2 }]]);
  assert.equal(page.$("[data-toast-region]").textContent, "Added 2 to cartView cart");
  assert.equal(page.$('[data-action="add-to-cart"]').hasAttribute("aria-busy"), false, "no longer busy");
});

test("a quantity outside 1..max is refused on the page, without a call", async () => {
  const page = productPage({}, { stock: 3 });
  await settle();
  const input = page.$('[data-field="quantity"]');
  for (const [value, message] of [["0", "Please choose a quantity of at least 1."], ["4", "You can add at most 3 of this item."]]) {
    input.value = value;
    page.$('[data-action="add-to-cart"]').click();
    await settle();
    assert.equal(input.getAttribute("aria-invalid"), "true");
    assert.equal(page.$("[data-toast]").getAttribute("data-toast"), "error");
    assert.equal(page.$("[data-toast] span").textContent, message);
  }
  assert.equal(page.calls.filter((call) => call.method === "POST").length, 0);
  assert.equal(page.events.length, 0);
});

test("a refused add is a cart-error event with the server's code, and an error toast with its detail", async () => {
  const page = productPage({ "POST /add-to-cart": { status: 409, body: { error: "out_of_stock", detail: "only 1 left" } } });
  await settle();
  page.$('[data-action="add-to-cart"]').click();
  await settle();
  assert.deepEqual(page.events, [["vitrine:cart-error", { op: "add", pid: "p001", error: "out_of_stock" }]]);
  assert.equal(page.$("[data-toast] span").textContent, "Only 1 left");
  const offline = productPage({ "POST /add-to-cart": "offline" });
  await settle();
  offline.$('[data-action="add-to-cart"]').click();
  await settle();
  assert.deepEqual(offline.events, [["vitrine:cart-error", { op: "add", pid: "p001", error: "network" }]]);
  assert.match(offline.$("[data-toast] span").textContent, /offline/);
});

function cartRow(pid, quantity, lineTotal) {
  return h("li", { "data-cart-item": pid },
    h("input", { type: "number", name: "quantity", min: "1", max: "9", value: String(quantity), "data-action": "update-quantity", "data-product-id": pid }),
    h("span", { "data-line-total": "" }, `€${lineTotal}`),
    h("button", { type: "button", "data-action": "remove-from-cart", "data-product-id": pid }, "Remove"));
}

function cartPage(routes) {
  return shop({
    path: "/cart",
    bodyAttributes: { "data-page": "cart" },
    routes: { ...CART_API(3), ...routes },
    body: [
      HEADER(),
      h("div", { "data-cart": "" },
        h("p", {}, h("span", { "data-cart-item-count": "" }, "3"), " ", h("span", { "data-cart-item-word": "" }, "items")),
        h("ul", {}, cartRow("p001", 1, "10.00"), cartRow("p002", 2, "40.00")),
        h("form", { "data-coupon-form": "" },
          h("input", { type: "text", name: "coupon", "data-field": "coupon", value: "" }),
          h("button", { type: "submit", "data-action": "apply-coupon" }, "Apply"),
          h("p", { "data-coupon-message": "" })),
        h("dl", {},
          h("dd", { "data-subtotal": "50.00" }, "€50.00"),
          h("div", { "data-row": "product-discount", hidden: true }, h("dd", { "data-product-discount": "" }, "€0.00")),
          h("div", { "data-row": "coupon", hidden: true }, h("span", { "data-coupon-code-label": "" }), h("dd", { "data-coupon-discount": "" })),
          h("dd", { "data-total": "50.00" }, "€50.00")),
        h("a", { href: "/checkout", "data-action": "checkout" }, "Go to checkout")),
    ],
  });
}

const CART = (overrides = {}) => ({
  item_count: 3, max_quantity: 99, subtotal: "50.00", product_discount: "0.00", coupon: null, coupon_discount: "0.00", total: "50.00",
  items: [
    { product_id: "p001", quantity: 1, stock: 5, line_total: "10.00" },
    { product_id: "p002", quantity: 2, stock: 5, line_total: "40.00" },
  ],
  ...overrides,
});

test("a quantity change posts it and redraws the row and the totals from the answer", async () => {
  const updated = CART({ item_count: 4, subtotal: "60.00", total: "60.00", items: [
    { product_id: "p001", quantity: 2, stock: 5, line_total: "20.00" },
    { product_id: "p002", quantity: 2, stock: 5, line_total: "40.00" },
  ] });
  const page = cartPage({ "POST /update-cart": { body: updated } });
  await settle();
  const input = page.$('[data-cart-item="p001"] [data-action="update-quantity"]');
  input.value = "2";
  fire(input, "change");
  await settle();
  const post = page.calls.find((call) => call.method === "POST");
  assert.deepEqual([post.url, post.body], ["/update-cart", { product_id: "p001", quantity: 2 }]);
  assert.deepEqual(page.events, [["vitrine:cart", { op: "update", pid: "p001", q: 2 }]]);
  assert.equal(page.$('[data-cart-item="p001"] [data-line-total]').textContent, "€20.00");
  assert.equal(page.$("[data-total]").getAttribute("data-total"), "60.00", "the DOM contract's total follows");
  assert.equal(page.$("[data-total]").textContent, "€60.00");
  assert.equal(page.$("[data-subtotal]").getAttribute("data-subtotal"), "60.00");
  assert.equal(page.$("[data-cart-item-count]").textContent, "4");
  assert.equal(page.$("[data-cart-count]").textContent, "4");
  assert.deepEqual(page.navigations, []);
});

test("an invalid quantity is put back without a call; a refused one too, with a cart-error", async () => {
  const page = cartPage({ "POST /update-cart": { status: 409, body: { error: "out_of_stock", detail: "not enough stock" } } });
  await settle();
  const input = page.$('[data-cart-item="p002"] [data-action="update-quantity"]');
  input.value = "0";
  fire(input, "change");
  await settle();
  assert.equal(input.value, "2");
  assert.equal(page.calls.filter((call) => call.method === "POST").length, 0);
  input.value = "7";
  fire(input, "change");
  await settle();
  assert.equal(input.value, "2", "back to what the server holds");
  assert.deepEqual(page.events, [["vitrine:cart-error", { op: "update", pid: "p002", error: "out_of_stock" }]]);
});

test("remove posts the product; the row goes, and an emptied cart reloads for the server's empty state", async () => {
  const page = cartPage({
    "POST /remove-from-cart": (body) => ({ body: body.product_id === "p001" ? CART({ item_count: 2, items: [CART().items[1]] }) : CART({ item_count: 0, items: [] }) }),
  });
  await settle();
  page.$('[data-cart-item="p001"] [data-action="remove-from-cart"]').click();
  await settle();
  assert.equal(page.$('[data-cart-item="p001"]'), null);
  assert.ok(page.$('[data-cart-item="p002"]'));
  assert.deepEqual(page.events, [["vitrine:cart", { op: "remove", pid: "p001" }]]);
  page.$('[data-cart-item="p002"] [data-action="remove-from-cart"]').click();
  await settle();
  assert.deepEqual(page.navigations, [["reload"]]);
});

test("a coupon applies (its row shows) or is refused with the shop's own words", async () => {
  let answer = { status: 409, body: { error: "coupon_expired", detail: "expired" } };
  const page = cartPage({ "POST /apply-coupon": () => answer });
  await settle();
  const form = page.$("[data-coupon-form]");
  fire(form, "submit");
  assert.equal(page.$("[data-coupon-message]").textContent, "Enter a coupon code first.");
  page.$('[data-field="coupon"]').value = " old10 ";
  fire(form, "submit");
  await settle();
  assert.deepEqual(page.calls.at(-1).body, { code: "old10" });
  assert.equal(page.$("[data-coupon-message]").textContent, "This coupon has expired.");
  assert.equal(page.$('[data-field="coupon"]').getAttribute("aria-invalid"), "true");
  assert.deepEqual(page.events.at(-1), ["vitrine:cart-error", { op: "coupon", error: "coupon_expired" }]);

  answer = { body: CART({ coupon: { code: "WELCOME10", percent_off: 10 }, coupon_discount: "5.00", total: "45.00" }) };
  page.$('[data-field="coupon"]').value = "welcome10";
  fire(form, "submit");
  await settle();
  assert.deepEqual(page.events.at(-1), ["vitrine:cart", { op: "coupon" }]);
  assert.equal(page.$('[data-field="coupon"]').value, "WELCOME10");
  assert.equal(page.$('[data-row="coupon"]').hidden, false);
  assert.equal(page.$("[data-coupon-discount]").textContent, "−€5.00");
  assert.equal(page.$("[data-total]").getAttribute("data-total"), "45.00");
  assert.equal(page.$("[data-coupon-message]").textContent, "Coupon WELCOME10 applied: 10% off.");
});

test("the checkout link is a cart event", () => {
  const page = cartPage({});
  page.$('[data-action="checkout"]').click();
  assert.deepEqual(page.events, [["vitrine:cart", { op: "checkout" }]]);
});

function catalogPage(search = "") {
  return shop({
    path: "/catalog",
    search,
    bodyAttributes: { "data-page": "catalog" },
    routes: CART_API(0),
    body: [
      h("form", { role: "search", action: "/catalog" }, h("input", { type: "search", name: "q", "data-action": "search" })),
      h("select", { name: "sort", "data-action": "sort" }, h("option", { value: "relevance" }), h("option", { value: "price_asc" })),
      h("input", { type: "checkbox", name: "on_sale", value: "1", "data-filter": "on-sale" }),
      h("a", { href: "/catalog?category=home", "data-category": "home" }, "Home"),
    ],
  });
}

test("catalog controls announce what changed, then navigate with the catalog's own parameters", () => {
  const page = catalogPage("?category=home&page=3");
  const sort = page.$('[data-action="sort"]');
  sort.value = "price_asc";
  fire(sort, "change");
  const sale = page.$('[data-filter="on-sale"]');
  sale.checked = true;
  fire(sale, "change");
  page.$("a[data-category]").click();
  assert.deepEqual(page.events, [
    ["vitrine:catalog", { kind: "sort", value: "price_asc" }],
    ["vitrine:catalog", { kind: "filter", filter: "on-sale", value: "on" }],
    ["vitrine:catalog", { kind: "filter", filter: "category", value: "home" }],
  ]);
  assert.deepEqual(page.navigations, [
    ["assign", "/catalog?category=home&sort=price_asc"],
    ["assign", "/catalog?category=home&on_sale=1"],
  ], "the page number is dropped");
});

test("a search tells only the length of the query, never its text", () => {
  const page = catalogPage();
  const form = page.$('form[role="search"]');
  page.$('[data-action="search"]').value = "  red socks ";
  const submit = fire(form, "submit");
  assert.equal(submit.defaultPrevented, false, "the browser submits the form itself");
  assert.deepEqual(page.events, [["vitrine:catalog", { kind: "search", length: 9 }]]);
  assert.ok(!JSON.stringify(page.events).includes("socks"));
  page.$('[data-action="search"]').value = "  ";
  assert.equal(fire(form, "submit").defaultPrevented, true, "an empty header search just opens the catalog");
  assert.deepEqual(page.events.at(-1), ["vitrine:catalog", { kind: "search", length: 0 }]);
  assert.deepEqual(page.navigations, [["assign", "/catalog"]]);
});

function checkoutPage(routes) {
  const field = (name, type = "text") => h("input", { type, name, required: true });
  return shop({
    path: "/checkout",
    bodyAttributes: { "data-page": "checkout" },
    routes: { ...CART_API(1), ...routes },
    body: [h("form", { "data-checkout-form": "", action: "/process-order" },
      h("input", { type: "hidden", name: "idempotency_key", value: "", "data-idempotency-key": "" }),
      field("name"), field("email", "email"), field("address"), field("city"), field("zip"), field("country"),
      h("input", { type: "radio", name: "payment", value: "card", checked: true }),
      h("input", { type: "radio", name: "payment", value: "paypal" }),
      h("p", { "data-checkout-message": "", hidden: true }),
      h("button", { type: "submit", "data-action": "place-order" }, "Place order · €50.00"))],
  });
}

const SHIPPING = { name: "Ada Lovelace", email: "ada@example.com", address: "1 Analytical St", city: "London", zip: "N1 9GU", country: "United Kingdom" };

function fill(page, values) {
  for (const [name, value] of Object.entries(values)) page.$(`[data-checkout-form] [name="${name}"]`).value = value;
}

test("checkout flags missing fields on the page and sends nothing", async () => {
  const page = checkoutPage({});
  fill(page, { ...SHIPPING, email: "not-an-email", city: "   " });
  fire(page.$("[data-checkout-form]"), "submit");
  await settle();
  assert.equal(page.$('[name="email"]').getAttribute("aria-invalid"), "true");
  assert.equal(page.$('[name="city"]').getAttribute("aria-invalid"), "true");
  assert.equal(page.$('[name="name"]').hasAttribute("aria-invalid"), false);
  assert.equal(page.document.activeElement, page.$('[name="email"]'), "the first invalid field has the focus");
  assert.equal(page.$("[data-checkout-message]").hidden, false);
  assert.equal(page.$("[data-checkout-message]").textContent, "Please complete the highlighted fields.");
  assert.equal(page.calls.filter((call) => call.method === "POST").length, 0);
});

test("checkout posts shipping, payment and one idempotency key, then opens the order", async () => {
  const page = checkoutPage({ "POST /process-order": { body: { order_id: "o123", total: "50.00", url: "/order/o123" } } });
  const key = page.$("[data-idempotency-key]").value;
  assert.match(key, /^[A-Za-z0-9_-]{24}$/, "a key is made when the form is bound");
  fill(page, { ...SHIPPING, name: "  Ada Lovelace  " });
  page.$('[name="payment"][value="paypal"]').checked = true;
  page.$('[name="payment"][value="card"]').checked = false;
  fire(page.$("[data-checkout-form]"), "submit");
  assert.equal(page.$('[data-action="place-order"]').disabled, true, "no double order while waiting");
  await settle();
  const post = page.calls.find((call) => call.method === "POST");
  assert.equal(post.url, "/process-order");
  assert.deepEqual(post.body, { shipping: SHIPPING, payment: { method: "paypal" }, idempotency_key: key });
  assert.deepEqual(page.events, [["vitrine:cart", { op: "order", order_id: "o123", total: "50.00" }]]);
  assert.deepEqual(page.navigations, [["href", "/order/o123"]]);
});

test("a refused order names the field, keeps the key and gives the button back", async () => {
  const page = checkoutPage({ "POST /process-order": { status: 400, body: { error: "invalid_field", detail: "zip is not a postal code" } } });
  fill(page, SHIPPING);
  const key = page.$("[data-idempotency-key]").value;
  fire(page.$("[data-checkout-form]"), "submit");
  await settle();
  assert.equal(page.$('[name="zip"]').getAttribute("aria-invalid"), "true");
  assert.equal(page.$("[data-checkout-message]").textContent, "Zip is not a postal code");
  const button = page.$('[data-action="place-order"]');
  assert.equal(button.disabled, false);
  assert.equal(button.textContent, "Place order · €50.00");
  assert.equal(page.$("[data-idempotency-key]").value, key, "a retry is the same order");
  assert.deepEqual(page.events, [["vitrine:cart-error", { op: "order", error: "invalid_field" }]]);
});

test("setCartCount and renderCart are safe on pages without a cart", () => {
  const page = installPage({ body: [HEADER()] });
  setCartCount(7);
  assert.equal(page.document.querySelector("[data-cart-count]").textContent, "7");
  assert.equal(page.document.querySelector("[data-cart-count]").classList.contains("is-bumped"), true);
  assert.doesNotThrow(() => renderCart(CART()));
  assert.deepEqual(page.navigations, []);
});
