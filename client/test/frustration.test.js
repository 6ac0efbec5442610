// Frustration facts (issue 14, docs/tracker.md "Frustration facts"): the click's `ia` and
// `nf`, and the `outcome` event that says what followed a click within OUTCOME_WINDOW_MS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { MAX_WATCHED_CLICKS, startTracker } from "../src/tracker.js";
import { frustrationOptedOut, isInteractive } from "../src/anchors.js";
import { ERROR_KINDS, EVENT_FIELDS, OUTCOME_WINDOW_MS, SCRIPT_ORIGIN_PATTERN, validateBatch, validateEvent } from "../src/schema.js";
import { fakeClock, fakeDocument, fakeWindow, h, ORIGIN } from "./helpers/fakes.js";

const T0 = 1_700_000_000_000;

// A MutationObserver that records how it is used; `mutate()` stands for a DOM change.
function observerClass() {
  const log = { created: 0, observed: [], disconnects: 0, instances: [] };
  class FakeMutationObserver {
    constructor(callback) {
      this.callback = callback;
      this.connected = false;
      log.created += 1;
      log.instances.push(this);
    }

    observe(root, options) {
      this.connected = true;
      log.observed.push({ root, options });
    }

    disconnect() {
      this.connected = false;
      log.disconnects += 1;
    }
  }
  const mutate = () => {
    for (const instance of log.instances) if (instance.connected) instance.callback([{ type: "childList" }], instance);
  };
  const connected = () => log.instances.some((instance) => instance.connected);
  return { FakeMutationObserver, log, mutate, connected };
}

function setup({ path = "/product/p012", withObserver = true } = {}) {
  const clock = fakeClock(T0);
  const doc = fakeDocument();
  const win = fakeWindow({ clock, path, search: "?ref=mail", document: doc });
  const mo = observerClass();
  if (withObserver) win.MutationObserver = mo.FakeMutationObserver;
  const batches = [];
  const calls = [];
  const tracker = startTracker({
    emit: (batch, options) => {
      batches.push(structuredClone(batch));
      calls.push(options);
    },
    now: clock.now,
    window: win,
    document: doc,
  });
  // What was sent, once whatever is buffered has been sent too.
  const events = () => {
    tracker.flush();
    return batches.flatMap((batch) => batch.events);
  };
  const kinds = (kind) => events().filter((event) => event.k === kind);
  const click = (target, fields = {}) => doc.dispatch("click", { target, pageX: 120, pageY: 340, clientX: 20, clientY: 10, detail: 1, pointerType: "mouse", ...fields });
  const fail = (fields) => win.dispatch("error", { target: win, preventDefault: () => assert.fail("preventDefault called"), ...fields });
  const reject = (reason) => win.dispatch("unhandledrejection", { target: win, reason, preventDefault: () => assert.fail("preventDefault called") });
  return { clock, doc, win, tracker, batches, calls, events, kinds, click, fail, reject, mo };
}

function page() {
  const text = h("p", { id: "blurb" });
  const picture = h("img", { "data-zoom": "1" });
  const tile = h("article", { "data-product-id": "p012" }, picture);
  const button = h("button", { "data-action": "add-to-cart" });
  const stepper = h("button", { "data-action": "step-up" });
  const quiet = h("div", { "data-vitrine-frustration": "off" }, h("span", { id: "qty" }, stepper), h("em", { id: "hint" }));
  h("main", { id: "main" }, text, tile, button, quiet);
  return { text, picture, tile, button, stepper, quiet, hint: quiet.children[1] };
}

const strip = ({ t, ...rest }) => rest;

test("ia: 1 on an interactive element or inside one, 0 elsewhere", () => {
  const interactive = [
    h("a", { href: "/catalog" }),
    h("button"),
    h("input", { type: "checkbox" }),
    h("select"),
    h("textarea"),
    h("label"),
    h("summary"),
    h("option"),
    h("div", { role: "button" }),
    h("span", { role: "link" }),
    h("div", { role: "checkbox" }),
    h("li", { role: "tab" }),
    h("li", { role: "menuitem" }),
    h("div", { onclick: "go()" }),
    h("div", { contenteditable: "" }),
    h("div", { contenteditable: "true" }),
    h("div", { tabindex: "0" }),
    h("div", { tabindex: "3" }),
    h("div", { "data-action": "toggle-filters" }),
  ];
  const inert = [
    h("a"), // no href: not a link
    h("div"),
    h("p"),
    h("img"),
    h("h1", { id: "product-title" }),
    h("div", { role: "presentation" }),
    h("div", { contenteditable: "false" }),
    h("div", { tabindex: "-1" }),
    h("article", { "data-product-id": "p012" }),
  ];
  for (const el of interactive) {
    const inner = h("span");
    el.append(inner);
    h("main", {}, el);
    assert.equal(isInteractive(el), true, `${el.tagName} ${JSON.stringify(el.attributes)}`);
    assert.equal(isInteractive(inner), true, `inside ${el.tagName} ${JSON.stringify(el.attributes)}`);
  }
  for (const el of inert) {
    h("main", {}, el);
    assert.equal(isInteractive(el), false, `${el.tagName} ${JSON.stringify(el.attributes)}`);
  }
  assert.equal(isInteractive({ nodeType: 3, parentElement: h("button") }), true, "a text node in a button");
  assert.equal(isInteractive(null), false);

  const { text, button, tile, picture } = page();
  const run = setup();
  run.click(text);
  run.click(button);
  run.click(picture);
  run.click(tile);
  run.clock.advance(1000);
  assert.deepEqual(run.kinds("click").map((c) => c.ia), [0, 1, 0, 0]);
  assert.ok(run.kinds("click").every((c) => !("nf" in c) && validateEvent(c) === null));
});

test("nf: 1 inside data-vitrine-frustration=\"off\", and no outcome for such a click, error or not", () => {
  const { stepper, hint, quiet, text } = page();
  assert.equal(frustrationOptedOut(stepper), true);
  assert.equal(frustrationOptedOut(quiet), true);
  assert.equal(frustrationOptedOut(text), false);
  assert.equal(frustrationOptedOut(h("div", { "data-vitrine-frustration": "on" })), false);
  const { clock, click, fail, kinds, mo } = setup();
  click(hint); // non-interactive, opted out
  click(stepper); // interactive, opted out
  assert.equal(mo.connected(), false, "opted-out clicks are not watched");
  fail({ error: new TypeError("boom"), filename: `${ORIGIN}/client/shop.js` });
  clock.advance(OUTCOME_WINDOW_MS + 1000);
  assert.deepEqual(kinds("click").map((c) => [c.a, c.ia, c.nf]), [["#hint", 0, 1], ['[data-action="step-up"]', 1, 1]]);
  assert.deepEqual(kinds("outcome"), []);
});

test("a click on a non-interactive element with no DOM change: an outcome when its 2 s window closes, no dm", () => {
  const { text } = page();
  const { clock, click, kinds, mo, events } = setup();
  clock.advance(500);
  click(text);
  assert.equal(mo.connected(), true, "the observer runs while the click is watched");
  assert.deepEqual(mo.log.observed[0].options, { subtree: true, childList: true, attributes: true, characterData: true });
  clock.advance(OUTCOME_WINDOW_MS - 1);
  assert.deepEqual(kinds("outcome"), [], "not before the window closes");
  clock.advance(1);
  assert.equal(mo.connected(), false, "and is disconnected once nothing is watched");
  clock.advance(1000);
  const [clickEvent] = kinds("click");
  const [outcome] = kinds("outcome");
  assert.deepEqual(outcome, { k: "outcome", t: 2500, ct: 500, a: "#blurb", x: 120, y: 340, rx: 0.2, ry: 0.25, ia: 0 });
  for (const name of ["a", "x", "y", "rx", "ry", "ia"]) assert.equal(outcome[name], clickEvent[name], name);
  assert.equal(outcome.ct, clickEvent.t);
  assert.deepEqual(events().map((e) => e.k), ["page", "click", "outcome"]);
  assert.equal(validateEvent(outcome), null);
});

test("a click followed by a DOM change: the outcome says when (dm), and the observer stops at the first change", () => {
  const { text, picture } = page();
  const { clock, click, kinds, mo } = setup();
  assert.equal(mo.log.created, 0, "no observer before a click");
  click(text);
  clock.advance(300);
  mo.mutate();
  assert.equal(mo.connected(), false, "no click waits for a change any more");
  clock.advance(100);
  mo.mutate();
  clock.advance(OUTCOME_WINDOW_MS);
  assert.deepEqual(kinds("outcome").map(strip), [{ k: "outcome", ct: 0, a: "#blurb", x: 120, y: 340, rx: 0.2, ry: 0.25, ia: 0, dm: 300 }]);
  // A change after the window is no dm; a change before a click is not its change.
  click(picture);
  clock.advance(OUTCOME_WINDOW_MS);
  assert.equal(mo.connected(), false);
  mo.mutate();
  clock.advance(10);
  assert.equal(kinds("outcome").length, 2);
  assert.equal("dm" in kinds("outcome")[1], false);
  assert.equal(mo.log.created, 1, "one observer, reconnected when needed");
});

test("without MutationObserver the outcome still comes, with no dm", () => {
  const { text } = page();
  const { clock, click, kinds, tracker } = setup({ withObserver: false });
  click(text);
  clock.advance(OUTCOME_WINDOW_MS);
  assert.equal(kinds("outcome").length, 1);
  assert.equal(tracker.stats.errors, 0);
});

test("an observer that throws costs the dm, never the outcome", () => {
  const { text } = page();
  const run = setup();
  run.win.MutationObserver = class {
    observe() {
      throw new Error("not a Node");
    }
  };
  run.click(text);
  run.clock.advance(OUTCOME_WINDOW_MS);
  assert.deepEqual(run.kinds("outcome").map((o) => [o.ia, "dm" in o]), [[0, false]]);
  assert.equal(run.tracker.stats.errors, 1, "counted, not thrown");
});

test("pagehide ends the watched clicks at once: outcomes with nv, in the unload flush", () => {
  const { text, button } = page();
  const { clock, click, kinds, win, calls, batches, mo, fail } = setup();
  click(text);
  clock.advance(200);
  click(button); // interactive and no error: no outcome
  clock.advance(300);
  fail({ error: new Error("late"), filename: "" }); // follows both clicks
  clock.advance(150);
  win.dispatch("pagehide");
  assert.deepEqual(calls.at(-1), { unload: true });
  const last = batches.at(-1).events;
  assert.deepEqual(last.filter((e) => e.k === "outcome").map(strip), [
    { k: "outcome", ct: 0, a: "#blurb", x: 120, y: 340, rx: 0.2, ry: 0.25, ia: 0, nv: 650, em: 500, ek: "Error", eo: "unknown" },
    { k: "outcome", ct: 200, a: '[data-action="add-to-cart"]', x: 120, y: 340, rx: 0.2, ry: 0.25, ia: 1, nv: 450, em: 300, ek: "Error", eo: "unknown" },
  ]);
  assert.equal(mo.connected(), false);
  clock.advance(5000);
  assert.equal(kinds("outcome").length, 2, "no second outcome when the window would have closed");
});

test("visibilitychange to hidden: outcomes with nv, before the vis event, in the unload flush", () => {
  const { text } = page();
  const { clock, click, doc, batches, calls, kinds } = setup();
  clock.advance(1000);
  click(text);
  clock.advance(1200);
  doc.visibilityState = "hidden";
  doc.dispatch("visibilitychange");
  assert.deepEqual(calls.at(-1), { unload: true });
  assert.deepEqual(batches.at(-1).events.map((e) => e.k), ["outcome", "vis"]);
  assert.equal(kinds("outcome")[0].nv, 1200);
  assert.equal(kinds("outcome")[0].t, 2200);
});

test("no outcome for an interactive click with no error; one for an interactive click followed by an error", () => {
  const { button } = page();
  const { clock, click, kinds, fail } = setup();
  click(button);
  clock.advance(OUTCOME_WINDOW_MS + 500);
  assert.deepEqual(kinds("outcome"), []);
  click(button);
  clock.advance(OUTCOME_WINDOW_MS + 1); // an error after the window is not the click's
  fail({ error: new TypeError("x"), filename: `${ORIGIN}/client/shop.js` });
  clock.advance(OUTCOME_WINDOW_MS);
  assert.deepEqual(kinds("outcome"), []);
  click(button);
  clock.advance(40);
  fail({ error: new TypeError("Cannot read properties of undefined (reading 'price')"), filename: `${ORIGIN}/client/shop.js` });
  clock.advance(10);
  fail({ error: new RangeError("second"), filename: "https://cdn.example.com/x.js" }); // the first error counts
  clock.advance(OUTCOME_WINDOW_MS);
  assert.deepEqual(kinds("outcome").map(({ t, ct, ...rest }) => rest), [
    { k: "outcome", a: '[data-action="add-to-cart"]', x: 120, y: 340, rx: 0.2, ry: 0.25, ia: 1, em: 40, ek: "TypeError", eo: "self" },
  ]);
});

test("error kinds: the error's own name, DOMException, rejection, else other", () => {
  class DOMException extends Error {}
  class CustomError extends Error {
    constructor() {
      super("custom");
      this.name = "PaymentError";
    }
  }
  const spoof = new Error("spoof");
  spoof.name = "rejection";
  const cases = [
    [{ error: new Error("a") }, "Error"],
    [{ error: new TypeError("a") }, "TypeError"],
    [{ error: new ReferenceError("a") }, "ReferenceError"],
    [{ error: new SyntaxError("a") }, "SyntaxError"],
    [{ error: new RangeError("a") }, "RangeError"],
    [{ error: new URIError("a") }, "URIError"],
    [{ error: new EvalError("a") }, "EvalError"],
    [{ error: new AggregateError([], "a") }, "AggregateError"],
    [{ error: Object.assign(new DOMException("a"), { name: "NotFoundError" }) }, "DOMException"],
    [{ error: new CustomError() }, "other"],
    [{ error: spoof }, "other"],
    [{ error: "a thrown string" }, "other"],
    [{ error: null }, "other"], // a cross-origin "Script error."
    [{ error: { name: "TypeError" } }, "other"], // not an Error
    [{ reason: new TypeError("a") }, "TypeError"],
    [{ reason: Object.assign(new DOMException("a"), { name: "AbortError" }) }, "DOMException"],
    [{ reason: "nope" }, "rejection"],
    [{ reason: undefined }, "rejection"],
    [{ reason: { code: 42 } }, "rejection"],
  ];
  for (const [fields, kind] of cases) {
    const { text } = page();
    const run = setup();
    run.win.DOMException = DOMException;
    run.click(text);
    run.clock.advance(5);
    if ("reason" in fields) run.reject(fields.reason);
    else run.fail({ ...fields, filename: `${ORIGIN}/client/main.js` });
    run.clock.advance(OUTCOME_WINDOW_MS);
    const [outcome] = run.kinds("outcome");
    assert.equal(outcome.ek, kind, JSON.stringify(fields, (k, v) => (v instanceof Error ? `${v.constructor.name}:${v.name}` : v)));
    assert.equal(outcome.em, 5);
    assert.equal(outcome.eo, "reason" in fields ? "unknown" : "self");
    assert.ok(ERROR_KINDS.includes(outcome.ek));
    assert.equal(validateEvent(outcome), null);
  }
});

test("script origins: self, inline, unknown or the origin alone, never a path, a query or the message", () => {
  const cases = [
    [`${ORIGIN}/client/shop.js?v=3`, "self"],
    ["/client/shop.js", "self"],
    [`${ORIGIN}/product/p012?ref=mail`, "inline"], // the page's own URL: an inline script
    [`${ORIGIN}/product/p012?ref=mail#top`, "inline"],
    ["", "unknown"], // a muted cross-origin error ("Script error.") names no file
    [undefined, "unknown"],
    ["https://cdn.example.com/lib/secret-path.js?token=abc", "https://cdn.example.com"],
    ["https://CDN.Example.com:8443/a.js", "https://cdn.example.com:8443"],
    ["http://widgets.example.org/w.js", "http://widgets.example.org"],
    ["chrome-extension://abcdefghijklmnop/content.js", "unknown"],
    [`https://${"a".repeat(120)}.example.com/x.js`, "unknown"],
    ["not a url at all ::", "self"], // resolved against the page, like the browser would
    ["http://[::1]:8080/x.js", "unknown"],
  ];
  for (const [filename, origin] of cases) {
    const { text } = page();
    const run = setup();
    run.click(text);
    run.fail({ error: new TypeError("SECRET page text in a message"), filename, message: "SECRET page text in a message" });
    run.clock.advance(OUTCOME_WINDOW_MS);
    const [outcome] = run.kinds("outcome");
    assert.equal(outcome.eo, origin, String(filename));
    assert.match(outcome.eo, new RegExp(SCRIPT_ORIGIN_PATTERN));
    const sent = JSON.stringify(run.batches);
    for (const secret of ["SECRET", "secret-path", "token", "/lib/", "content.js"]) assert.ok(!sent.includes(secret), `${secret} left the page`);
    for (const batch of run.batches) assert.equal(validateBatch(batch), null);
  }
});

test("a resource that failed to load is no page error", () => {
  const { text } = page();
  const { clock, click, kinds, fail } = setup();
  click(text);
  fail({ target: h("img", { src: "/static/missing.png" }), error: undefined, filename: undefined });
  clock.advance(OUTCOME_WINDOW_MS);
  assert.deepEqual(kinds("outcome").map((o) => "em" in o), [false]);
});

test("the error listeners note only: no preventDefault, no exception, nothing when no click is watched", () => {
  const { text } = page();
  const { clock, click, fail, reject, kinds, tracker, win } = setup();
  assert.equal(win.listenerCount("error"), 1);
  assert.equal(win.listenerCount("unhandledrejection"), 1);
  assert.ok(win.listeners.get("error")[0].capture && win.listeners.get("unhandledrejection")[0].capture);
  fail({ error: new TypeError("before any click") }); // nothing watched: ignored
  reject(new Error("before any click"));
  click(text);
  const hostile = {};
  Object.defineProperty(hostile, "name", { get() { throw new Error("hostile getter"); } });
  Object.setPrototypeOf(hostile, Error.prototype);
  const event = { type: "error", target: win, error: hostile, preventDefault: () => assert.fail("preventDefault called") };
  Object.defineProperty(event, "filename", { get() { throw new Error("hostile filename"); } });
  assert.doesNotThrow(() => win.listeners.get("error")[0].handler(event)); // as the browser calls it
  assert.doesNotThrow(() => win.dispatch("error", null));
  clock.advance(OUTCOME_WINDOW_MS);
  const [outcome] = kinds("outcome");
  assert.deepEqual([outcome.ek, outcome.eo], ["other", "unknown"]);
  assert.equal(validateEvent(outcome), null);
  assert.equal(tracker.stats.errors, 0);
});

test("at most MAX_WATCHED_CLICKS clicks are watched: a burst keeps the newest, each outcome valid", () => {
  const { text } = page();
  const { clock, click, kinds, batches } = setup();
  assert.equal(MAX_WATCHED_CLICKS, 20);
  for (let i = 0; i < 30; i += 1) {
    click(text, { pageX: 100 + i });
    clock.advance(10);
  }
  clock.advance(OUTCOME_WINDOW_MS);
  const outcomes = kinds("outcome");
  assert.equal(kinds("click").length, 30);
  assert.equal(outcomes.length, MAX_WATCHED_CLICKS);
  assert.deepEqual(outcomes.map((o) => o.x), Array.from({ length: 20 }, (_, i) => 110 + i), "the oldest ten were dropped");
  assert.deepEqual(outcomes.map((o) => o.ct), kinds("click").slice(10).map((c) => c.t));
  for (const batch of batches) assert.equal(validateBatch(batch), null);
});

test("stop drops the watched clicks, disconnects the observer and detaches the error listeners", () => {
  const { text } = page();
  const { clock, click, kinds, tracker, mo, win, doc } = setup();
  click(text);
  assert.equal(mo.connected(), true);
  tracker.stop();
  assert.equal(mo.connected(), false);
  assert.equal(win.totalListeners() + doc.totalListeners(), 0);
  clock.advance(OUTCOME_WINDOW_MS * 2);
  assert.deepEqual(kinds("outcome"), []);
  assert.equal(clock.timerCount, 0, "no timer left behind");
});

test("the schema: outcome's fields and checks, click's ia and nf", () => {
  assert.equal(OUTCOME_WINDOW_MS, 2000);
  assert.deepEqual(EVENT_FIELDS.outcome, { required: ["ct", "a", "x", "y", "rx", "ry", "ia"], optional: ["dm", "nv", "em", "ek", "eo"] });
  const click = { k: "click", t: 5, x: 1, y: 2, a: "#main", rx: 0.5, ry: 0.5 };
  const outcome = { k: "outcome", t: 2005, ct: 5, a: "#main", x: 1, y: 2, rx: 0.5, ry: 0.5, ia: 0 };
  for (const fields of [{}, { ia: 0 }, { ia: 1 }, { ia: 0, nf: 1 }, { nf: 0 }]) assert.equal(validateEvent({ ...click, ...fields }), null, JSON.stringify(fields));
  for (const fields of [{ ia: 2 }, { ia: true }, { ia: "1" }, { nf: 2 }, { nf: "off" }, { dm: 3 }, { ct: 5 }]) {
    assert.equal(validateEvent({ ...click, ...fields }), "invalid_event", JSON.stringify(fields));
  }
  const good = [
    {},
    { dm: 0 },
    { nv: 2000 },
    { dm: 12, nv: 800, em: 40, ek: "TypeError", eo: "self" },
    { em: 1999, ek: "rejection", eo: "unknown" },
    { em: 3, ek: "other", eo: "inline" },
    { em: 3, ek: "Error", eo: "https://cdn.example.com" },
    { em: 3, ek: "Error", eo: "http://localhost:5000" },
    { em: 3 },
    { ia: 1, em: 3, ek: "DOMException", eo: "self" },
  ];
  for (const fields of good) assert.equal(validateEvent({ ...outcome, ...fields }), null, JSON.stringify(fields));
  const bad = [
    { dm: 2001 },
    { dm: -1 },
    { nv: 1.5 },
    { em: "10" },
    { ek: "TypeError", eo: "self" }, // kind and origin without the error's time
    { eo: "self" },
    { em: 3, ek: "TypeError: Cannot read properties of undefined (reading 'name')" },
    { em: 3, ek: "typeerror" },
    { em: 3, eo: "https://x.com/path" },
    { em: 3, eo: "https://x.com/" },
    { em: 3, eo: "https://x.com?q=1" },
    { em: 3, eo: "ftp://x.com" },
    { em: 3, eo: "SELF" },
    { em: 3, eo: "https://X.com" },
    { em: 3, eo: "https://x.com:123456" },
    { em: 3, msg: "boom" },
    { stack: "at x" },
    { pt: "mouse" },
    { ia: 2 },
    { ct: -1 },
    { ct: 86_400_001 },
    { a: "a/b" },
    { x: 100_001 },
    { rx: 1.5 },
  ];
  for (const fields of bad) assert.equal(validateEvent({ ...outcome, ...fields }), "invalid_event", JSON.stringify(fields));
  for (const name of ["ct", "a", "x", "y", "rx", "ry", "ia"]) {
    const { [name]: _, ...missing } = outcome;
    assert.equal(validateEvent(missing), "invalid_event", `without ${name}`);
  }
});

test("docs/events.md lists the outcome kind, its fields and every error kind", () => {
  const doc = readFileSync(new URL("../../docs/events.md", import.meta.url), "utf8");
  assert.ok(doc.includes(ERROR_KINDS.map((kind) => `\`${kind}\``).join("/")));
  assert.ok(doc.includes(SCRIPT_ORIGIN_PATTERN));
  const row = doc.split("\n").find((line) => line.startsWith("| `outcome` |"));
  assert.ok(row, "an outcome row");
  for (const name of [...EVENT_FIELDS.outcome.required, ...EVENT_FIELDS.outcome.optional]) assert.ok(row.includes(`\`${name}\``), name);
  const tracker = readFileSync(new URL("../../docs/tracker.md", import.meta.url), "utf8");
  assert.match(tracker, /## Frustration facts/);
  assert.ok(tracker.includes('data-vitrine-frustration="off"'));
});
