import { test } from "node:test";
import assert from "node:assert/strict";

import { scrubEvent, scrubUrl } from "../src/url_scrub.js";

test("query strings go, except the catalog's own filters", () => {
  assert.equal(scrubUrl("/checkout?express=1"), "/checkout");
  assert.equal(scrubUrl("http://shop.test/catalog?q=secret&category=lamps&page=2#top"), "http://shop.test/catalog?category=lamps&page=2");
  assert.equal(scrubUrl("/catalog?q=secret"), "/catalog");
  assert.equal(scrubUrl("/catalog?sort=price_asc&on_sale=1"), "/catalog?sort=price_asc&on_sale=1");
  assert.equal(scrubUrl("/product/p001"), "/product/p001");
  assert.equal(scrubUrl(42), 42);
});

test("rrweb events lose queries in the page address, snapshots and mutations", () => {
  const meta = { type: 4, timestamp: 1, data: { href: "http://shop.test/catalog?q=secret", width: 1, height: 1 } };
  assert.equal(scrubEvent(meta).data.href, "http://shop.test/catalog");
  const link = { type: 2, tagName: "a", attributes: { href: "/catalog?q=secret&page=2", title: "?q=kept text" }, childNodes: [] };
  const full = { type: 2, timestamp: 2, data: { node: { type: 0, childNodes: [{ type: 2, tagName: "body", attributes: {}, childNodes: [link] }] } } };
  const scrubbed = scrubEvent(full);
  assert.equal(scrubbed.data.node.childNodes[0].childNodes[0].attributes.href, "/catalog?page=2");
  assert.equal(scrubbed.data.node.childNodes[0].childNodes[0].attributes.title, "?q=kept text");
  assert.equal(link.attributes.href, "/catalog?q=secret&page=2", "rrweb's own node is not changed");
  const mutation = { type: 3, timestamp: 3, data: { source: 0, adds: [{ parentId: 1, node: { ...link } }], attributes: [{ id: 9, attributes: { src: "/img.png?token=abc" } }], texts: [], removes: [] } };
  const changed = scrubEvent(mutation);
  assert.equal(changed.data.adds[0].node.attributes.href, "/catalog?page=2");
  assert.equal(changed.data.attributes[0].attributes.src, "/img.png");
  const plain = { type: 3, timestamp: 4, data: { source: 1, positions: [] } };
  assert.equal(scrubEvent(plain), plain);
});
