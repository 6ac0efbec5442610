import { test } from "node:test";
import assert from "node:assert/strict";

import {
  attributeSelector,
  closestAttribute,
  cssPath,
  findAnchor,
  hoverTarget,
  relativePosition,
  selectorFor,
} from "../src/anchors.js";
import { ANCHOR_PATTERN, MAX_ANCHOR_LENGTH } from "../src/schema.js";
import { h } from "./helpers/fakes.js";

const ANCHOR_RE = new RegExp(ANCHOR_PATTERN);

function card(pid, price = "19.99") {
  const img = h("img");
  const icon = h("span");
  const button = h("button", { "data-action": "add-to-cart" }, icon);
  const priceEl = h("span", { "data-price": price });
  const root = h("article", { "data-product-id": pid, "data-category": "shoes" }, img, priceEl, button);
  return { root, img, icon, button, priceEl };
}

test("a product card anchors as [data-product-id]", () => {
  const { root, img } = card("p012");
  h("main", { id: "main" }, root);
  const anchor = findAnchor(img);
  assert.equal(anchor.selector, '[data-product-id="p012"]');
  assert.equal(anchor.element, root);
});

test("the shop's real add-to-cart button (which also carries data-product-id) anchors on the button", () => {
  const icon = h("span");
  const button = h("button", { "data-action": "add-to-cart", "data-product-id": "p001" }, icon);
  const root = h("article", { "data-product-id": "p001", "data-category": "kitchen" }, button);
  h("main", {}, root);
  const anchor = findAnchor(icon);
  assert.equal(anchor.selector, '[data-product-id="p001"] [data-action="add-to-cart"]');
  assert.equal(anchor.element, button);
});

test("data-action and data-price inside a card are prefixed with the card, so anchors are unique", () => {
  const first = card("p012");
  const second = card("p013");
  h("main", {}, first.root, second.root);
  assert.equal(findAnchor(first.icon).selector, '[data-product-id="p012"] [data-action="add-to-cart"]');
  assert.equal(findAnchor(first.icon).element, first.button);
  assert.equal(findAnchor(second.button).selector, '[data-product-id="p013"] [data-action="add-to-cart"]');
  assert.notEqual(findAnchor(first.button).selector, findAnchor(second.button).selector);
  assert.equal(findAnchor(first.priceEl).selector, '[data-product-id="p012"] [data-price="19.99"]');
});

test("data-action outside a card is not prefixed", () => {
  const button = h("button", { "data-action": "checkout" });
  h("main", {}, h("div", {}, button));
  assert.equal(findAnchor(button).selector, '[data-action="checkout"]');
});

test("other contract attributes anchor by themselves, in priority order over id", () => {
  assert.equal(findAnchor(h("a", { "data-category": "home-garden" })).selector, '[data-category="home-garden"]');
  assert.equal(findAnchor(h("input", { "data-filter": "on-sale" })).selector, '[data-filter="on-sale"]');
  assert.equal(findAnchor(h("input", { "data-field": "coupon" })).selector, '[data-field="coupon"]');
  assert.equal(findAnchor(h("div", { "data-adaptation": "tutorial" })).selector, '[data-adaptation="tutorial"]');
  assert.equal(findAnchor(h("div", { "data-tutorial": "" })).selector, "[data-tutorial]");
  assert.equal(findAnchor(h("button", { id: "go", "data-action": "place-order" })).selector, '[data-action="place-order"]');
});

test("the closest id is used when no contract attribute is nearer", () => {
  const link = h("a");
  h("body", {}, h("main", { id: "main" }, h("div", {}, h("p", {}, link))));
  assert.deepEqual(findAnchor(link).selector, "#main");
});

test("without any anchor, a short CSS path with nth-of-type is built", () => {
  const link = h("a");
  const main = h("main", {}, h("div"), h("div", {}, link), h("section"));
  h("html", {}, h("body", {}, main));
  assert.equal(findAnchor(link).selector, "main>div:nth-of-type(2)>a");
  assert.equal(findAnchor(link).element, link);
});

test("CSS paths stop after 5 levels", () => {
  let leaf = h("span");
  let node = leaf;
  for (let i = 0; i < 10; i += 1) node = h("div", {}, node);
  h("body", {}, node);
  const selector = cssPath(leaf);
  assert.equal(selector.split(">").length, 5);
  assert.equal(selector, "div>div>div>div>span");
});

test("unsafe attribute values and ids never reach the selector", () => {
  assert.equal(attributeSelector("data-price", 'x"]; body{'), "[data-price]");
  assert.equal(findAnchor(h("div", { "data-adaptation": "a/b c" })).selector, "[data-adaptation]");
  const target = h("span");
  h("body", {}, h("div", { id: "9 bad/id" }, target));
  assert.equal(findAnchor(target).selector, "div>span");
});

test("every anchor stays within the allowed characters and 200 characters", () => {
  const samples = [];
  const { root, icon, priceEl } = card("p001", "1234.50");
  h("body", {}, h("main", { id: "content_main-1" }, root));
  samples.push(findAnchor(icon).selector, findAnchor(priceEl).selector, findAnchor(root).selector);
  const deep = h("em");
  let node = deep;
  for (let i = 0; i < 30; i += 1) node = h("custom-element-with-a-rather-long-name", {}, node, h("custom-element-with-a-rather-long-name"));
  samples.push(findAnchor(deep).selector);
  const leaf = h("b");
  const tag = "custom-element-long-name-xxxxxx"; // 31 characters
  let long = leaf;
  for (let i = 0; i < 3; i += 1) long = h(tag, {}, long, h(tag));
  h("body", {}, h("div", { id: "a".repeat(60) }, long, h(tag)));
  const longSelector = cssPath(leaf); // "#aaa…>" + 3 long levels would pass 200
  assert.equal(longSelector, `${tag}:nth-of-type(1)>`.repeat(3) + "b");
  samples.push(longSelector);
  samples.push(findAnchor(h("div", { "data-adaptation": "x".repeat(500) })).selector);
  for (const selector of samples) {
    assert.ok(ANCHOR_RE.test(selector), selector);
    assert.ok(selector.length <= MAX_ANCHOR_LENGTH, selector);
  }
});

test("text nodes resolve to their parent element", () => {
  const button = h("button", { "data-action": "search" });
  const text = { nodeType: 3, parentElement: button };
  assert.equal(findAnchor(text).selector, '[data-action="search"]');
  assert.equal(findAnchor(null), null);
});

test("relative positions are fractions of the anchor's box, clamped to 0..1", () => {
  const rect = { left: 100, top: 50, width: 200, height: 100 };
  assert.deepEqual(relativePosition(rect, 150, 75), { rx: 0.25, ry: 0.25 });
  assert.deepEqual(relativePosition(rect, 10, 500), { rx: 0, ry: 1 });
  assert.deepEqual(relativePosition(rect, 1000, -20), { rx: 1, ry: 0 });
  assert.deepEqual(relativePosition({ left: 0, top: 0, width: 0, height: 0 }, 5, 5), { rx: 0, ry: 0 });
  assert.deepEqual(relativePosition(rect, 166.6666, 50), { rx: 0.333, ry: 0 });
  assert.deepEqual(relativePosition(null, 5, 5), { rx: 0, ry: 0 });
});

test("hover targets are tagged innermost-first", () => {
  const { root, img, priceEl } = card("p012");
  const badge = h("span", { "data-discount": "20" });
  root.append(badge);
  const tutorialLink = h("a", { href: "/tutorials" });
  const tutorialDeep = h("a", { href: "/tutorials/sizing?x=1" });
  const other = h("a", { href: "/tutorials-archive" });
  assert.deepEqual(hoverTarget(priceEl), { element: priceEl, tag: "price" });
  assert.deepEqual(hoverTarget(badge), { element: badge, tag: "discount" });
  assert.deepEqual(hoverTarget(img), { element: root, tag: "product" });
  assert.equal(hoverTarget(tutorialLink).tag, "tutorial");
  assert.equal(hoverTarget(tutorialDeep).tag, "tutorial");
  assert.equal(hoverTarget(h("div", { "data-tutorial": "sizing" })).tag, "tutorial");
  assert.equal(hoverTarget(other), null);
  assert.equal(hoverTarget(h("div")), null);
});

test("selectorFor names the element itself, closestAttribute walks up", () => {
  const link = h("a", { href: "/tutorials" });
  h("body", {}, h("nav", { id: "top" }, h("a"), link));
  assert.equal(selectorFor(link), "#top>a:nth-of-type(2)");
  const { icon } = card("p007");
  assert.equal(closestAttribute(icon, "data-product-id"), "p007");
  assert.equal(closestAttribute(icon, "data-action"), "add-to-cart");
  assert.equal(closestAttribute(h("div"), "data-action"), null);
});
