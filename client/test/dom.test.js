// dom.js: the helpers every storefront and admin module builds on.
import { test } from "node:test";
import assert from "node:assert/strict";

import { $, $$, el, emit, metaContent, money, moneyFromCents, on, ready, safe, toast } from "../src/dom.js";
import { FakeEvent, fire, h, installPage } from "./helpers/dom.js";

test("el builds an element from attributes and children of any kind", () => {
  installPage();
  const node = el(
    "a",
    { href: "/cart", class: "btn", dataset: { adaptation: "coupon" }, hidden: true, disabled: false, title: null },
    "Go ", 3, [el("strong", { text: "now" }), null], undefined,
  );
  assert.equal(node.tagName, "A");
  assert.equal(node.getAttribute("href"), "/cart");
  assert.equal(node.className, "btn");
  assert.equal(node.getAttribute("data-adaptation"), "coupon");
  assert.equal(node.getAttribute("hidden"), "", "true sets the attribute empty");
  assert.equal(node.hasAttribute("disabled"), false, "false skips it");
  assert.equal(node.hasAttribute("title"), false, "null skips it");
  assert.equal(node.textContent, "Go 3now");
  assert.equal(el("td", { className: "num", text: 12 }).textContent, "12");
});

test("on delegates: the handler gets the matching ancestor, and its errors stay inside", async () => {
  const { document, reports } = installPage({
    body: [h("div", { "data-card": "" }, h("button", { "data-action": "buy" }, h("span", {}, "Buy"))), h("p", {}, "outside")],
  });
  const seen = [];
  const off = on("click", '[data-action="buy"]', (event, match) => seen.push(match.getAttribute("data-action")));
  on("click", '[data-action="buy"]', () => {
    throw new Error("broken handler");
  });
  on("click", '[data-action="buy"]', async () => {
    throw new Error("broken async handler");
  });
  $("span").click(); // deep inside the button
  document.querySelector("p").click();
  $("span").childNodes[0].dispatchEvent(new FakeEvent("click", { bubbles: true })); // a text node
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(seen, ["buy", "buy"]);
  assert.equal(reports.length, 4, "two clicks x (one throw + one rejection), none escaped");
  assert.match(String(reports[0][0]), /click \[data-action="buy"\]/);
  off();
  $("span").click();
  assert.equal(seen.length, 2, "the returned function unbinds");
});

test("on with a root only hears events inside it, and only matches inside it", () => {
  installPage({ body: [
    h("div", { class: "x", id: "outer" }, h("section", { id: "a" }, h("button", { class: "x" }), h("span", {}, "text"))),
    h("section", { id: "b" }, h("button", { class: "x" })),
  ] });
  const seen = [];
  on("click", ".x", (event, match) => seen.push(match.parentElement.id), { root: $("#a") });
  for (const button of $$("button.x")) button.click();
  $("#a span").click(); // inside the root, but the nearest .x is the root's ancestor
  assert.deepEqual(seen, ["a"]);
});

test("safe passes results through and reports instead of throwing", async () => {
  const { reports } = installPage();
  assert.equal(safe((a, b) => a + b)(2, 3), 5);
  assert.equal(safe(() => { throw new Error("x"); }, "sync")(), undefined);
  await safe(async () => { throw new Error("y"); }, "async")().catch(() => {});
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(reports.map((args) => args[0]), ["[vitrine] sync:", "[vitrine] async:"]);
});

test("ready runs at once on a parsed page, or on DOMContentLoaded while loading", () => {
  const { document } = installPage();
  const runs = [];
  ready(() => runs.push("parsed"));
  assert.deepEqual(runs, ["parsed"]);
  document.readyState = "loading";
  ready(() => runs.push("later"));
  assert.deepEqual(runs, ["parsed"]);
  fire(document, "DOMContentLoaded");
  fire(document, "DOMContentLoaded");
  assert.deepEqual(runs, ["parsed", "later"], "once");
});

test("emit dispatches a CustomEvent with its detail on document", () => {
  const { document } = installPage();
  const details = [];
  document.addEventListener("vitrine:cart", (event) => details.push(event.detail));
  emit("vitrine:cart", { op: "add", pid: "p001", q: 1 });
  assert.deepEqual(details, [{ op: "add", pid: "p001", q: 1 }]);
});

test("toast speaks in one polite live region, replaces the last message and leaves on time", () => {
  const { document, clock } = installPage();
  toast("Added to cart", { link: { href: "/cart", label: "View cart" } });
  const region = $("[data-toast-region]");
  assert.equal(region.getAttribute("role"), "status");
  assert.equal(region.getAttribute("aria-live"), "polite");
  assert.equal(region.textContent, "Added to cartView cart");
  assert.equal($("a", region).getAttribute("href"), "/cart");
  const error = toast("Could not add", { kind: "error" });
  assert.equal($$("[data-toast-region]").length, 1, "one region");
  assert.equal(region.children.length, 1, "the new message replaces the old one");
  assert.equal(error.getAttribute("data-toast"), "error");
  clock.advance(3500 + 250);
  assert.equal(region.children.length, 1, "an error stays at least 6 s");
  clock.advance(6000);
  assert.equal(region.children.length, 0);
  assert.equal(document.body.contains(region), true);
});

test("metaContent tells a missing tag (null) from an empty one; money formats both units", () => {
  const { document } = installPage({ metas: { "vitrine-consent": "granted", "vitrine-vid": "" } });
  assert.equal(metaContent("vitrine-consent"), "granted");
  assert.equal(metaContent("vitrine-vid"), "");
  assert.equal(metaContent("vitrine-sid"), null);
  assert.equal(metaContent("vitrine-consent", document), "granted");
  assert.equal(metaContent("x", null), null);
  assert.equal(money("12.30"), "€12.30");
  assert.equal(moneyFromCents(1230), "€12.30");
  assert.equal(moneyFromCents(5), "€0.05");
  assert.equal(moneyFromCents(null), "—");
});
