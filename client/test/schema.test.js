import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as schema from "../src/schema.js";

const SOURCE = readFileSync(new URL("../src/schema.js", import.meta.url), "utf8");
const DOC = readFileSync(new URL("../../docs/events.md", import.meta.url), "utf8");

test("every exported constant is one JSON literal on one line (what the Python mirror test reads)", () => {
  const lines = SOURCE.split("\n").filter((line) => line.startsWith("export const ") && /^export const [A-Z][A-Z0-9_]* =/.test(line));
  assert.ok(lines.length >= 20);
  for (const line of lines) {
    const match = /^export const ([A-Z][A-Z0-9_]*) = (.*);$/.exec(line);
    assert.ok(match, `not a one-line constant: ${line}`);
    assert.deepEqual(JSON.parse(match[2]), schema[match[1]], match[1]);
  }
  for (const name of ["SCHEMA_VERSION", "EVENT_KINDS", "SORTS", "HOVER_TAGS", "CART_OPS", "MAX_EVENTS_PER_BATCH", "MAX_BATCH_BYTES"]) {
    assert.ok(lines.some((line) => line.startsWith(`export const ${name} = `)), name);
  }
});

test("the constants agree with docs/events.md", () => {
  assert.equal(schema.SCHEMA_VERSION, 1);
  assert.equal(schema.MAX_EVENTS_PER_BATCH, 500);
  assert.equal(schema.MAX_BATCH_BYTES, 256 * 1024);
  assert.match(DOC, /1 \.\. 500 events/);
  assert.match(DOC, /at most 256 KiB/);
  const events = DOC.slice(DOC.indexOf("## Events"), DOC.indexOf("Selectors (`a`)"));
  const kinds = [...events.matchAll(/^\| `([a-z]+)` \| /gm)].map((m) => m[1]).filter((k) => k !== "k");
  assert.deepEqual(kinds, schema.EVENT_KINDS);
  const codes = DOC.slice(DOC.indexOf("## Acks and errors")).match(/`([a-z_]+)`/g).map((c) => c.slice(1, -1)).filter((c) => c !== "ok" && c !== "seq" && c !== "error");
  assert.deepEqual(codes.filter((c) => !["true", "false"].includes(c)), schema.ACK_ERRORS);
  for (const list of [schema.SORTS, schema.HOVER_TAGS, schema.CART_OPS, schema.POINTER_TYPES]) {
    assert.ok(DOC.includes(list.map((item) => `\`${item}\``).join("/")), list.join("/"));
  }
});

test("validateEvent accepts the documented shapes and rejects anything else", () => {
  const ok = [
    { k: "page", t: 0, path: "/catalog", title: "Catalogue", ref: "", vw: 1280, vh: 800, dh: 3000, dev: "desktop", cat: "shoes" },
    { k: "move", t: 10, x: 1, y: 2 },
    { k: "click", t: 10, x: 1, y: 2, a: '[data-product-id="p012"] [data-action="add-to-cart"]', rx: 0.5, ry: 1, act: "add-to-cart", pid: "p012" },
    { k: "scroll", t: 10, y: 300, d: 0.42 },
    { k: "vis", t: 10, s: "hidden", act_ms: 1234 },
    { k: "hover", t: 10, a: "[data-price]", tag: "price", ms: 150 },
    { k: "cart", t: 10, op: "add", pid: "p001", q: 2 },
    { k: "search", t: 10, n: 7 },
    { k: "sort", t: 10, v: "price_asc" },
    { k: "filter", t: 10, f: "category", v: "home-garden" },
    { k: "filter", t: 10, f: "on-sale" },
  ];
  for (const event of ok) assert.equal(schema.validateEvent(event), null, JSON.stringify(event));
  const bad = [
    [{ k: "teleport", t: 0 }, "unknown_kind"],
    [{ k: "move", t: 0, x: 1 }, "invalid_event"],
    [{ k: "move", t: 0, x: 1, y: 2, extra: 1 }, "invalid_event"],
    [{ k: "move", t: -1, x: 1, y: 2 }, "invalid_event"],
    [{ k: "move", t: 1.5, x: 1, y: 2 }, "invalid_event"],
    [{ k: "move", t: 0, x: 100001, y: 2 }, "invalid_event"],
    [{ k: "search", t: 0, n: 3, q: "shoes" }, "invalid_event"],
    [{ k: "sort", t: 0, v: "cheapest" }, "invalid_event"],
    [{ k: "click", t: 0, x: 1, y: 2, a: "a/b", rx: 0, ry: 0 }, "invalid_event"],
    [{ k: "click", t: 0, x: 1, y: 2, a: "a", rx: 1.2, ry: 0 }, "invalid_event"],
    [{ k: "hover", t: 0, a: "a", tag: "price", ms: 600001 }, "invalid_event"],
    [{ k: "cart", t: 0, op: "add", pid: "P12" }, "invalid_event"],
    [{ k: "page", t: 0, path: "/catalog?q=x", title: "", ref: "", vw: 1, vh: 1, dh: 1, dev: "desktop" }, "invalid_event"],
  ];
  for (const [event, code] of bad) assert.equal(schema.validateEvent(event), code, JSON.stringify(event));
});

test("validateBatch checks the envelope, the event count and the byte size", () => {
  const batch = { v: 1, vid: "visitor_12345678", sid: "session_1234", pvid: "pv_123456789", seq: 0, t0: 1_700_000_000_000, path: "/", events: [{ k: "move", t: 0, x: 1, y: 1 }] };
  assert.equal(schema.validateBatch(batch), null);
  assert.equal(schema.validateBatch({ ...batch, v: 2 }), "invalid_batch");
  assert.equal(schema.validateBatch({ ...batch, events: [] }), "invalid_batch");
  assert.equal(schema.validateBatch({ ...batch, pvid: "short" }), "invalid_batch");
  assert.equal(schema.validateBatch({ ...batch, extra: true }), "invalid_batch");
  assert.equal(schema.validateBatch({ ...batch, t0: 5 }), "invalid_batch");
  assert.equal(schema.validateBatch({ ...batch, path: "/a%20b" }), "invalid_batch");
  assert.equal(schema.validateBatch({ ...batch, vid: "short" }), "invalid_batch");
  assert.equal(schema.validateBatch({ ...batch, events: Array(501).fill(batch.events[0]) }), "too_many_events");
  const title = "é".repeat(200);
  const page = { k: "page", t: 0, path: "/", title, ref: "", vw: 1, vh: 1, dh: 1, dev: "mobile" };
  assert.equal(schema.validateBatch({ ...batch, events: Array(500).fill({ ...page, title: "€".repeat(200) }) }), "too_large");
});

test("the touch-era optional fields: page sort / sale / hov, click pt", () => {
  const page = { k: "page", t: 0, path: "/catalog", title: "", ref: "", vw: 390, vh: 844, dh: 3000, dev: "mobile" };
  const click = { k: "click", t: 5, x: 1, y: 2, a: "#main", rx: 0.5, ry: 0.5 };
  assert.deepEqual(schema.POINTER_TYPES, ["mouse", "touch", "pen"]);
  for (const fields of [{ sort: "discount" }, { sale: 1 }, { sale: 0 }, { hov: 0 }, { hov: 1 }, { sort: "price_asc", sale: 1, hov: 0, cat: "shoes" }, { disc: 1 }, { disc: 100 }]) {
    assert.equal(schema.validateEvent({ ...page, ...fields }), null, JSON.stringify(fields));
  }
  for (const pt of schema.POINTER_TYPES) assert.equal(schema.validateEvent({ ...click, pt }), null, pt);
  for (const fields of [{ sort: "cheapest" }, { sort: 1 }, { sale: 2 }, { sale: true }, { sale: "1" }, { hov: 2 }, { hov: -1 }, { hov: 0.5 }, { pt: "mouse" }, { disc: 0 }, { disc: 101 }, { disc: 30.5 }, { disc: "30" }, { disc: true }]) {
    assert.equal(schema.validateEvent({ ...page, ...fields }), "invalid_event", JSON.stringify(fields));
  }
  for (const pt of ["", "finger", "Touch", 1, null]) assert.equal(schema.validateEvent({ ...click, pt }), "invalid_event", String(pt));
  assert.equal(schema.validateEvent({ ...click, hov: 1 }), "invalid_event");
  assert.equal(schema.validateEvent({ k: "move", t: 0, x: 1, y: 1, pt: "touch" }), "invalid_event");
});
