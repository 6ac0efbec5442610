import { test } from "node:test";
import assert from "node:assert/strict";

import { deviceFor, startTracker } from "../src/tracker.js";
import { validateBatch, validateEvent } from "../src/schema.js";
import { fakeClock, fakeDocument, fakeWindow, h, nosyElement, ORIGIN, SID, VID } from "./helpers/fakes.js";

const T0 = 1_700_000_000_000;

// `hover`: true / false gives the window a matchMedia whose "(hover: hover)" matches or
// not (a desktop / a phone); left out, the window has no matchMedia at all.
function setup({ path = "/", search = "", navigator = {}, metas = {}, width, height, docOptions = {}, emit, hover } = {}) {
  const clock = fakeClock(T0);
  const doc = fakeDocument({ metas, ...docOptions });
  const win = fakeWindow({ clock, path, search, navigator, width, height, document: doc });
  if (hover !== undefined) {
    win.mediaQueries = [];
    win.matchMedia = (query) => {
      win.mediaQueries.push(query);
      return { media: query, matches: query === "(hover: hover)" ? hover : false };
    };
  }
  const batches = [];
  const calls = [];
  const record = emit ?? ((batch, options) => {
    batches.push(structuredClone(batch));
    calls.push(options);
  });
  const tracker = startTracker({ emit: record, now: clock.now, window: win, document: doc });
  const events = () => batches.flatMap((batch) => batch.events);
  const kinds = (kind) => events().filter((event) => event.k === kind);
  return { clock, doc, win, tracker, batches, calls, events, kinds };
}

test("a page event opens the page view, with product id, category and the referrer's path only", () => {
  const root = h("article", { "data-product-id": "p012", "data-category": "shoes" });
  const { clock, batches } = setup({
    path: "/product/p012",
    docOptions: { productRoot: root, title: "Trail shoe", referrer: `${ORIGIN}/catalog?category=shoes&q=secret` },
  });
  clock.advance(1000);
  assert.equal(batches.length, 1);
  const [batch] = batches;
  assert.match(batch.pvid, /^[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(batch, {
    v: 1,
    vid: VID,
    sid: SID,
    pvid: batch.pvid,
    seq: 0,
    t0: T0,
    path: "/product/p012",
    events: [
      { k: "page", t: 0, path: "/product/p012", title: "Trail shoe", ref: "/catalog", vw: 1280, vh: 800, dh: 3000, dev: "desktop", pid: "p012", cat: "shoes" },
    ],
  });
  assert.equal(validateBatch(batch), null);
});

test("a product page's own discount badge is the page event's disc; a related card's badge is not", () => {
  const badge = h("span", { class: "badge badge--sale", "data-discount": "30" });
  const onSale = h("article", { "data-product-id": "p012", "data-category": "shoes" }, h("div", {}, h("p", { class: "price" }, badge)));
  const sale = setup({ path: "/product/p012", docOptions: { productRoot: onSale } });
  sale.clock.advance(1000);
  assert.equal(sale.batches[0].events[0].disc, 30);
  assert.equal(validateBatch(sale.batches[0]), null);
  // Full price: no badge in the product's root (related cards are outside it), so no disc.
  const full = setup({ path: "/product/p013", docOptions: { productRoot: h("article", { "data-product-id": "p013", "data-category": "shoes" }) } });
  full.clock.advance(1000);
  assert.equal("disc" in full.batches[0].events[0], false);
  for (const value of ["0", "150", "12.5", "lots"]) {
    const odd = h("article", { "data-product-id": "p014", "data-category": "shoes" }, h("span", { "data-discount": value }));
    const run = setup({ path: "/product/p014", docOptions: { productRoot: odd } });
    run.clock.advance(1000);
    assert.equal("disc" in run.batches[0].events[0], false, value);
  }
});

test("on /catalog the batch path keeps no query and the category comes from the query", () => {
  const { clock, batches } = setup({
    path: "/catalog",
    search: "?category=home-garden&q=red+socks&sort=price_asc",
    docOptions: { referrer: "https://elsewhere.example/page?x=1" },
  });
  clock.advance(1000);
  const [batch] = batches;
  assert.equal(batch.path, "/catalog");
  assert.equal(batch.events[0].cat, "home-garden");
  assert.equal(batch.events[0].ref, "");
  assert.equal(batch.events[0].pid, undefined);
  assert.ok(!JSON.stringify(batches).includes("red"));
});

test("a title that echoes the search query is not sent", () => {
  const echo = setup({ path: "/catalog", search: "?q=Red+Socks", docOptions: { title: "Results for “red socks” — Vitrine" } });
  echo.clock.advance(1000);
  assert.equal(echo.batches[0].events[0].title, "");
  const plain = setup({ path: "/catalog", search: "?q=red+socks&category=shoes", docOptions: { title: "Shoes — Vitrine" } });
  plain.clock.advance(1000);
  assert.equal(plain.batches[0].events[0].title, "Shoes — Vitrine");
});

test("page fields are clamped to what the server accepts", () => {
  const { clock, doc, batches } = setup({ path: "/product/p%C3%A9 x", width: 0, height: 50_000, docOptions: { height: 0 } });
  doc.dispatch("vitrine:catalog", { detail: { kind: "search", length: 5000 } });
  clock.advance(1000);
  const [batch] = batches;
  assert.equal(batch.path, "/product/p_C3_A9_x");
  const [page, search] = batch.events;
  assert.deepEqual([page.vw, page.vh, page.dh], [1, 20_000, 1]);
  assert.equal(search.n, 200);
  assert.equal(validateBatch(batch), null);
});

test("device classes follow the viewport width", () => {
  assert.equal(deviceFor(375), "mobile");
  assert.equal(deviceFor(767), "mobile");
  assert.equal(deviceFor(768), "tablet");
  assert.equal(deviceFor(1023), "tablet");
  assert.equal(deviceFor(1024), "desktop");
  const { clock, batches } = setup({ width: 800 });
  clock.advance(1000);
  assert.equal(batches[0].events[0].dev, "tablet");
});

test("50 buffered events flush at once, without waiting for the timer", () => {
  const { doc, batches, clock } = setup();
  for (let i = 0; i < 48; i += 1) doc.dispatch("vitrine:cart", { detail: { op: "add", pid: "p001", q: 1 } });
  assert.equal(batches.length, 0, "49 events (page + 48) stay buffered");
  doc.dispatch("vitrine:cart", { detail: { op: "add", pid: "p001", q: 1 } });
  assert.equal(batches.length, 1);
  assert.equal(batches[0].events.length, 50);
  doc.dispatch("vitrine:cart", { detail: { op: "remove", pid: "p001" } });
  assert.equal(batches.length, 1);
  clock.advance(1000);
  assert.equal(batches.length, 2);
  assert.equal(batches[1].events.length, 1);
});

test("the 1 s timer flushes a partial batch", () => {
  const { clock, batches } = setup();
  clock.advance(999);
  assert.equal(batches.length, 0);
  clock.advance(1);
  assert.equal(batches.length, 1);
  clock.advance(5000);
  assert.equal(batches.length, 1, "no empty batches");
});

test("seq increments per batch and t is milliseconds since t0", () => {
  const { clock, doc, batches } = setup();
  clock.advance(1000);
  clock.advance(250);
  doc.dispatch("vitrine:cart", { detail: { op: "add", pid: "p002", q: 1 } });
  clock.advance(1000);
  clock.advance(3333);
  doc.dispatch("vitrine:catalog", { detail: { kind: "sort", value: "newest" } });
  clock.advance(1000);
  assert.deepEqual(batches.map((batch) => batch.seq), [0, 1, 2]);
  assert.equal(new Set(batches.map((batch) => batch.pvid)).size, 1);
  assert.ok(batches.every((batch) => batch.t0 === T0));
  assert.deepEqual(batches[1].events, [{ k: "cart", t: 1250, op: "add", pid: "p002", q: 1 }]);
  assert.deepEqual(batches[2].events, [{ k: "sort", t: 5583, v: "newest" }]);
});

test("pointer moves are sampled at most 20 Hz, only while moving, keeping the last position", () => {
  const { clock, doc, kinds } = setup();
  for (let i = 0; i < 100; i += 1) {
    doc.dispatch("pointermove", { pointerType: "mouse", pageX: 10 + i * 3.4, pageY: 500.6, clientX: 0, clientY: 0 });
    clock.advance(10);
  }
  clock.advance(5000);
  const moves = kinds("move");
  assert.ok(moves.length >= 19 && moves.length <= 21, `got ${moves.length} moves`);
  for (let i = 1; i < moves.length; i += 1) assert.ok(moves[i].t - moves[i - 1].t >= 50, "≥ 50 ms apart");
  assert.ok(moves.every((move) => Number.isInteger(move.x) && Number.isInteger(move.y)));
  assert.deepEqual(moves.at(-1), { k: "move", t: moves.at(-1).t, x: Math.round(10 + 99 * 3.4), y: 501 });
  assert.ok(moves.at(-1).t <= 1000, "nothing recorded once the pointer rests");
  const before = kinds("move").length;
  doc.dispatch("pointermove", { pointerType: "mouse", pageX: 347, pageY: 501 }); // same spot as the last sample
  clock.advance(2000);
  assert.equal(kinds("move").length, before, "an unchanged position is not repeated");
});

for (const [name, navigator, metas] of [
  ["Do-Not-Track", { doNotTrack: "1" }, {}],
  ["Global Privacy Control", { globalPrivacyControl: true }, {}],
  ["consent denied", {}, { "vitrine-consent": "denied" }],
  ["consent not yet asked", {}, { "vitrine-consent": "ask" }],
]) {
  test(`nothing is recorded under ${name}`, () => {
    const { clock, doc, win, tracker, batches } = setup({ navigator, metas });
    assert.equal(tracker.running, false);
    assert.equal(doc.totalListeners() + win.totalListeners(), 0, "no listeners attached");
    doc.dispatch("pointermove", { pointerType: "mouse", pageX: 1, pageY: 1 });
    doc.dispatch("vitrine:cart", { detail: { op: "add" } });
    clock.advance(5000);
    assert.equal(tracker.flush(), 0);
    assert.equal(batches.length, 0);
    assert.equal(win.vitrineTracker, undefined, "no window global: main.js hands the tracker around");
  });
}

test("consent granted or no consent tag yet: tracking runs", () => {
  for (const metas of [{ "vitrine-consent": "granted" }, {}]) {
    const { tracker } = setup({ metas });
    assert.equal(tracker.running, true);
  }
});

test("the consent banner can start a waiting tracker; DNT still wins", () => {
  const waiting = setup({ metas: { "vitrine-consent": "ask" } });
  assert.equal(waiting.tracker.stats.reason, "consent_ask");
  waiting.clock.advance(2000);
  assert.equal(waiting.tracker.start(), true);
  waiting.clock.advance(1000);
  assert.equal(waiting.batches.length, 1);
  assert.deepEqual(waiting.batches[0].events.map((event) => [event.k, event.t]), [["page", 0]]);

  const dnt = setup({ navigator: { doNotTrack: "1" } });
  assert.equal(dnt.tracker.start(), false);
  assert.equal(dnt.tracker.stats.reason, "dnt");
  dnt.clock.advance(2000);
  assert.equal(dnt.batches.length, 0);
});

test("without the identity meta tags the tracker does not start", () => {
  const { tracker } = setup({ metas: { "vitrine-sid": null } });
  assert.equal(tracker.running, false);
  assert.equal(tracker.stats.reason, "no_identity");
});

test("startTracker is idempotent per window", () => {
  const { clock, doc, win, tracker, batches } = setup();
  const again = startTracker({ emit: () => assert.fail("second emit used"), now: clock.now, window: win, document: doc });
  assert.equal(again, tracker);
  assert.equal(doc.listenerCount("pointermove"), 1);
  clock.advance(1000);
  assert.equal(batches.flatMap((batch) => batch.events).filter((event) => event.k === "page").length, 1);
  clock.advance(2000);
  assert.equal(tracker.start(), true);
  doc.visibilityState = "hidden";
  doc.dispatch("visibilitychange");
  const vis = batches.flatMap((batch) => batch.events).filter((event) => event.k === "vis");
  assert.deepEqual(vis.map((event) => event.act_ms), [3000], "a repeated start does not reset the page view's state");
});

test("hovers on tagged elements count only from 100 ms, with the duration emitted on leave", () => {
  const price = h("span", { "data-price": "19.99" });
  const cardEl = h("article", { "data-product-id": "p012" }, price);
  const plain = h("div");
  h("main", {}, cardEl, plain);
  const { clock, doc, kinds } = setup();
  doc.dispatch("pointerover", { pointerType: "mouse", target: price });
  clock.advance(99);
  doc.dispatch("pointerover", { pointerType: "mouse", target: plain });
  doc.dispatch("pointerover", { pointerType: "mouse", target: price });
  clock.advance(150);
  doc.dispatch("pointerover", { pointerType: "mouse", target: price }); // same element: still the same hover
  clock.advance(50);
  doc.dispatch("pointerover", { pointerType: "mouse", target: plain });
  clock.advance(1000);
  assert.deepEqual(kinds("hover").map(({ t, ...rest }) => rest), [
    { k: "hover", a: '[data-product-id="p012"] [data-price="19.99"]', tag: "price", ms: 200, pid: "p012" },
  ]);
  doc.dispatch("pointerover", { pointerType: "mouse", target: cardEl });
  clock.advance(700_000);
  doc.dispatch("pointerout", { pointerType: "mouse", target: cardEl, relatedTarget: null }); // left the window
  clock.advance(1000);
  assert.deepEqual(kinds("hover").at(-1).ms, 600_000);
  assert.equal(kinds("hover").at(-1).tag, "product");
});

test("a search sends only its length, never the text", () => {
  const { clock, doc, kinds, batches } = setup({ path: "/catalog" });
  doc.dispatch("vitrine:catalog", { detail: { kind: "search", value: "my secret query", length: 15 } });
  doc.dispatch("vitrine:catalog", { detail: { kind: "search", value: "other secret" } });
  clock.advance(1000);
  assert.deepEqual(kinds("search").map(({ t, ...rest }) => rest), [{ k: "search", n: 15 }, { k: "search", n: 12 }]);
  assert.ok(!JSON.stringify(batches).includes("secret"));
});

test("sort, filter and cart events come from the shop's CustomEvents; invalid ones are dropped", () => {
  const { clock, doc, kinds, tracker } = setup();
  doc.dispatch("vitrine:catalog", { detail: { kind: "sort", value: "price_asc" } });
  doc.dispatch("vitrine:catalog", { detail: { kind: "sort", value: "cheapest" } });
  doc.dispatch("vitrine:catalog", { detail: { kind: "filter", value: "on-sale" } });
  doc.dispatch("vitrine:catalog", { detail: { kind: "filter", filter: "category", value: "shoes" } });
  doc.dispatch("vitrine:catalog", { detail: { kind: "filter", value: "kitchen" } });
  doc.dispatch("vitrine:cart", { detail: { op: "update", pid: "p003", q: 4 } });
  doc.dispatch("vitrine:cart", { detail: { op: "checkout" } });
  doc.dispatch("vitrine:cart", { detail: { op: "explode", pid: "p003" } });
  doc.dispatch("vitrine:cart", {});
  clock.advance(1000);
  const strip = ({ t, ...rest }) => rest;
  assert.deepEqual(kinds("sort").map(strip), [{ k: "sort", v: "price_asc" }]);
  assert.deepEqual(kinds("filter").map(strip), [{ k: "filter", f: "on-sale" }, { k: "filter", f: "category", v: "shoes" }, { k: "filter", f: "category", v: "kitchen" }]);
  assert.deepEqual(kinds("cart").map(strip), [{ k: "cart", op: "update", pid: "p003", q: 4 }, { k: "cart", op: "checkout" }]);
  assert.equal(tracker.stats.invalid, 3);
});

test("clicks carry page coordinates, the anchor, the position in it, the action and the product", () => {
  const icon = h("i");
  const button = h("button", { "data-action": "add-to-cart" }, icon);
  button.rect = { left: 200, top: 100, width: 80, height: 40 };
  h("main", {}, h("article", { "data-product-id": "p012" }, button));
  const { clock, doc, kinds } = setup();
  doc.dispatch("click", { target: icon, pageX: 220.4, pageY: 1130, clientX: 220, clientY: 130, detail: 1 });
  clock.advance(1000);
  assert.deepEqual(kinds("click").map(({ t, ...rest }) => rest), [
    { k: "click", x: 220, y: 1130, a: '[data-product-id="p012"] [data-action="add-to-cart"]', rx: 0.25, ry: 0.75, act: "add-to-cart", pid: "p012", ia: 1 },
  ]);
});

test("scroll is sampled at most 5 Hz and d is the deepest point reached", () => {
  const { clock, doc, win, kinds } = setup({ height: 1000, docOptions: { height: 4000 } });
  for (let i = 1; i <= 50; i += 1) {
    win.scrollY = i * 40;
    win.dispatch("scroll");
    clock.advance(20);
  }
  clock.advance(1000);
  let scrolls = kinds("scroll");
  assert.ok(scrolls.length >= 5 && scrolls.length <= 6, `got ${scrolls.length}`);
  for (let i = 1; i < scrolls.length; i += 1) assert.ok(scrolls[i].t - scrolls[i - 1].t >= 200);
  assert.deepEqual(scrolls.at(-1), { k: "scroll", t: scrolls.at(-1).t, y: 2000, d: 0.75 });
  win.scrollY = 0;
  win.dispatch("scroll");
  clock.advance(1000);
  scrolls = kinds("scroll");
  assert.deepEqual(scrolls.at(-1), { k: "scroll", t: scrolls.at(-1).t, y: 0, d: 0.75 });
  assert.equal(doc.listenerCount("scroll"), 0, "scroll is listened on window");
});

test("visibility changes report visible time and flush the tail for the beacon", () => {
  const price = h("span", { "data-price": "5.00" });
  const { clock, doc, kinds, calls, batches } = setup();
  clock.advance(2800);
  doc.dispatch("pointerover", { pointerType: "mouse", target: price });
  clock.advance(200);
  doc.visibilityState = "hidden";
  doc.dispatch("visibilitychange");
  assert.equal(batches.length, 2, "flushed immediately, not on the timer");
  assert.deepEqual(calls.at(-1), { unload: true });
  clock.advance(5000);
  doc.visibilityState = "visible";
  doc.dispatch("visibilitychange");
  clock.advance(2000);
  doc.visibilityState = "hidden";
  doc.dispatch("visibilitychange");
  assert.deepEqual(kinds("vis").map(({ s, act_ms }) => [s, act_ms]), [["hidden", 3000], ["visible", 0], ["hidden", 2000]]);
  assert.deepEqual(calls[0], { unload: false });
  assert.deepEqual(kinds("hover").map((event) => [event.tag, event.ms]), [["price", 200]], "a hover in progress ends when the page hides");
  assert.ok(batches[1].events.some((event) => event.k === "hover"), "and leaves with the tail");
});

test("pagehide flushes buffered events, pending hover and moves with the unload flag", () => {
  const price = h("span", { "data-price": "5.00" });
  const { clock, doc, win, calls, kinds } = setup();
  clock.advance(1000);
  doc.dispatch("pointerover", { pointerType: "mouse", target: price });
  doc.dispatch("pointermove", { pointerType: "mouse", pageX: 5, pageY: 5 });
  clock.advance(10);
  doc.dispatch("pointermove", { pointerType: "mouse", pageX: 9, pageY: 9 });
  clock.advance(200);
  win.dispatch("pagehide");
  assert.deepEqual(calls.at(-1), { unload: true });
  assert.equal(kinds("hover").length, 1);
  assert.deepEqual(kinds("move").map(({ x }) => x), [5, 9]);
});

test("a closing tab records its hide once, with the tail, whichever of pagehide and visibilitychange comes first", () => {
  for (const order of [["pagehide", "visibilitychange"], ["visibilitychange", "pagehide"]]) {
    const { clock, doc, win, batches, calls } = setup();
    clock.advance(1500);
    doc.dispatch("vitrine:cart", { detail: { op: "add", pid: "p001" } });
    for (const type of order) {
      if (type === "pagehide") win.dispatch("pagehide");
      else {
        doc.visibilityState = "hidden";
        doc.dispatch("visibilitychange");
      }
    }
    const vis = batches.flatMap((batch) => batch.events).filter((event) => event.k === "vis");
    assert.deepEqual(vis.map(({ s, act_ms }) => [s, act_ms]), [["hidden", 1500]], order.join(" then "));
    // The first handler's batch carries the cart event and the hide together: one beacon.
    const first = batches.find((batch) => batch.events.some((event) => event.k === "vis"));
    assert.deepEqual(first.events.map((event) => event.k).slice(-2), ["cart", "vis"], order.join(" then "));
    assert.deepEqual(calls.at(-1), { unload: true });
  }
});

test("a page hidden, shown again and closed records each change once", () => {
  const { clock, doc, win, kinds } = setup();
  clock.advance(1000);
  doc.visibilityState = "hidden";
  doc.dispatch("visibilitychange");
  win.dispatch("pagehide"); // closed while hidden: nothing new to say
  clock.advance(3000);
  doc.visibilityState = "visible";
  doc.dispatch("visibilitychange"); // restored (back-forward cache)
  clock.advance(500);
  win.dispatch("pagehide");
  assert.deepEqual(kinds("vis").map(({ s, act_ms }) => [s, act_ms]), [["hidden", 1000], ["visible", 0], ["hidden", 500]]);
});

test("no exception escapes to the page: failures are counted", () => {
  const broken = h("button", { "data-action": "checkout" });
  broken.getBoundingClientRect = () => {
    throw new Error("detached");
  };
  let throwing = true;
  const { clock, doc, tracker } = setup({
    emit: () => {
      if (throwing) throw new Error("socket exploded");
    },
  });
  assert.doesNotThrow(() => {
    doc.dispatch("click", { target: broken, pageX: 1, pageY: 1 });
    doc.dispatch("click", { target: null });
    doc.dispatch("pointerover", { pointerType: "mouse", target: { nodeType: 1, tagName: 5 } });
    doc.dispatch("vitrine:catalog", { detail: null });
    doc.dispatch("vitrine:cart", { detail: { get op() { throw new Error("hostile getter"); } } });
    clock.advance(1000);
  });
  assert.equal(tracker.stats.errors, 2);
  assert.equal(tracker.stats.emitErrors, 1);
  throwing = false;
  doc.dispatch("vitrine:cart", { detail: { op: "add", pid: "p001" } });
  clock.advance(1000);
  assert.equal(tracker.stats.emitErrors, 1);
  assert.equal(tracker.stats.batches, 2);
});

test("input values and text content are never read", () => {
  const reads = [];
  const input = nosyElement("input", { "data-field": "coupon", name: "coupon" }, reads);
  const text = nosyElement("p", {}, reads);
  h("main", {}, h("form", {}, input), text);
  const { clock, doc } = setup({ path: "/cart" });
  for (const target of [input, text]) {
    doc.dispatch("click", { target, pageX: 1, pageY: 2, clientX: 1, clientY: 2, detail: 1 });
    doc.dispatch("pointerover", { pointerType: "mouse", target });
    doc.dispatch("pointermove", { pointerType: "mouse", target, pageX: 3, pageY: 4 });
  }
  clock.advance(1000);
  assert.deepEqual(reads, []);
});

test("every event and batch produced passes the schema", () => {
  const button = h("button", { "data-action": "apply-coupon" });
  const price = h("span", { "data-price": "12.00" });
  h("main", { id: "main" }, h("article", { "data-product-id": "p044", "data-category": "kitchen" }, price), button);
  const { clock, doc, win, batches } = setup({ path: "/catalog", search: "?category=kitchen" });
  for (let i = 0; i < 300; i += 1) {
    doc.dispatch("pointermove", { pointerType: "mouse", pageX: i * 7, pageY: i * 3 });
    if (i % 10 === 0) doc.dispatch("click", { target: i % 20 ? button : price, pageX: i, pageY: i, clientX: i, clientY: i, detail: 1 });
    if (i % 15 === 0) doc.dispatch("pointerover", { pointerType: "mouse", target: i % 30 ? price : button });
    win.scrollY = i * 5;
    win.dispatch("scroll");
    clock.advance(17);
  }
  doc.visibilityState = "hidden";
  doc.dispatch("visibilitychange");
  assert.ok(batches.length >= 5);
  for (const batch of batches) assert.equal(validateBatch(batch), null);
  for (const event of batches.flatMap((batch) => batch.events)) assert.equal(validateEvent(event), null);
});

test("stop detaches every listener and sends what was buffered", () => {
  const { doc, win, tracker, batches } = setup();
  assert.ok(doc.totalListeners() + win.totalListeners() > 0);
  tracker.stop();
  assert.equal(doc.totalListeners() + win.totalListeners(), 0);
  assert.equal(batches.length, 1);
  assert.equal(tracker.running, false);
  doc.dispatch("vitrine:cart", { detail: { op: "add" } });
  assert.equal(tracker.flush(), 0);
});

// ------------------------------------------------------------------ touch screens

test("a catalog page opened sorted or on sale says so: sort from the query, sale 1 for on_sale=1", () => {
  const opened = setup({ path: "/catalog", search: "?on_sale=1&sort=discount&category=shoes" });
  opened.clock.advance(1000);
  const [page] = opened.kinds("page");
  assert.equal(page.sort, "discount");
  assert.equal(page.sale, 1);
  assert.equal(page.cat, "shoes");
  assert.equal(validateEvent(page), null);
  for (const sort of ["price_asc", "price_desc", "popular", "newest"]) {
    const other = setup({ path: "/catalog", search: `?sort=${sort}` });
    other.clock.advance(1000);
    assert.equal(other.kinds("page")[0].sort, sort);
    assert.equal(other.kinds("page")[0].sale, undefined);
  }
});

test("an unknown sort, on_sale other than 1, or another path gives neither sort nor sale", () => {
  for (const [path, search] of [
    ["/catalog", "?sort=cheapest&on_sale=0"],
    ["/catalog", "?sort=&on_sale=true"],
    ["/catalog", "?on_sale=yes"],
    ["/catalog", ""],
    ["/product/p012", "?sort=discount&on_sale=1"],
    ["/", "?sort=discount&on_sale=1"],
  ]) {
    const { clock, kinds } = setup({ path, search });
    clock.advance(1000);
    const [page] = kinds("page");
    assert.equal(page.sort, undefined, `${path}${search}`);
    assert.equal(page.sale, undefined, `${path}${search}`);
    assert.equal(validateEvent(page), null);
  }
});

test("every page says whether the device can hover: hov from matchMedia(\"(hover: hover)\")", () => {
  const desktop = setup({ path: "/product/p012", hover: true });
  const phone = setup({ path: "/", hover: false, width: 390 });
  const none = setup({ path: "/" });
  for (const run of [desktop, phone, none]) run.clock.advance(1000);
  assert.equal(desktop.kinds("page")[0].hov, 1);
  assert.deepEqual(desktop.win.mediaQueries, ["(hover: hover)"]);
  assert.equal(phone.kinds("page")[0].hov, 0);
  assert.equal(phone.kinds("page")[0].dev, "mobile");
  assert.equal("hov" in none.kinds("page")[0], false, "no matchMedia: no hov");
  for (const run of [desktop, phone]) assert.equal(validateEvent(run.kinds("page")[0]), null);
});

test("a finger's pointermove is no pointer path: touch moves record nothing, mouse and pen do", () => {
  const { clock, doc, kinds } = setup({ hover: false });
  for (let i = 0; i < 10; i += 1) {
    doc.dispatch("pointermove", { pointerType: "touch", pageX: 100, pageY: 600 - i * 40 });
    clock.advance(60);
  }
  doc.dispatch("pointermove", { pageX: 5, pageY: 5 }); // no pointerType: not known to be a pointer
  doc.dispatch("pointermove", { pointerType: "", pageX: 6, pageY: 6 });
  clock.advance(1000);
  assert.deepEqual(kinds("move"), []);
  doc.dispatch("pointermove", { pointerType: "mouse", pageX: 10, pageY: 20 });
  clock.advance(60);
  doc.dispatch("pointermove", { pointerType: "pen", pageX: 30, pageY: 40 });
  clock.advance(1000);
  assert.deepEqual(kinds("move").map(({ x, y }) => [x, y]), [[10, 20], [30, 40]]);
});

test("a finger's pointerover is no hover, and a finger lifting does not end a mouse hover", () => {
  const price = h("span", { "data-price": "19.99" });
  const plain = h("div");
  h("main", {}, h("article", { "data-product-id": "p012" }, price), plain);
  const { clock, doc, kinds } = setup({ hover: true });
  doc.dispatch("pointerover", { pointerType: "touch", target: price });
  clock.advance(2000);
  doc.dispatch("pointerout", { pointerType: "touch", target: price, relatedTarget: null });
  doc.dispatch("pointerover", { pointerType: "touch", target: plain });
  clock.advance(1000);
  assert.deepEqual(kinds("hover"), [], "touch pointerover starts no hover");
  doc.dispatch("pointerover", { pointerType: "mouse", target: price });
  clock.advance(300);
  doc.dispatch("pointerover", { pointerType: "touch", target: plain }); // a tap elsewhere
  doc.dispatch("pointerout", { pointerType: "touch", target: plain, relatedTarget: null });
  clock.advance(200);
  doc.dispatch("pointerover", { pointerType: "mouse", target: plain });
  clock.advance(1000);
  assert.deepEqual(kinds("hover").map(({ tag, ms }) => [tag, ms]), [["price", 500]]);
});

test("on a page whose device cannot hover (hov 0) no hover is recorded at all, even from a mouse", () => {
  const price = h("span", { "data-price": "19.99" });
  const plain = h("div");
  h("main", {}, h("article", { "data-product-id": "p012" }, price), plain);
  const { clock, doc, kinds, tracker } = setup({ hover: false, width: 390 });
  doc.dispatch("pointerover", { pointerType: "mouse", target: price });
  clock.advance(5000);
  doc.dispatch("pointerover", { pointerType: "mouse", target: plain });
  doc.dispatch("pointerover", { pointerType: "pen", target: price });
  clock.advance(5000);
  doc.dispatch("pointerout", { pointerType: "pen", target: price, relatedTarget: null });
  tracker.stop();
  assert.equal(kinds("page")[0].hov, 0);
  assert.deepEqual(kinds("hover"), []);
  assert.equal(tracker.stats.invalid, 0);
});

test("a click says which pointer made it: its own pointerType, else the last pointerdown's", () => {
  const button = h("button", { "data-action": "add-to-cart" });
  button.rect = { left: 0, top: 0, width: 100, height: 40 };
  h("main", {}, button);
  const { clock, doc, kinds } = setup({ hover: false });
  const at = { target: button, pageX: 50, pageY: 20, clientX: 50, clientY: 20, detail: 1 };
  doc.dispatch("click", { ...at }); // no pointerdown seen yet, no pointerType: no pt
  doc.dispatch("click", { ...at, pointerType: "touch" }); // Chromium: the click is a PointerEvent
  doc.dispatch("click", { ...at, pointerType: "pen" });
  doc.dispatch("pointerdown", { pointerType: "touch", target: button });
  doc.dispatch("click", { ...at }); // a MouseEvent click (Safari) after a finger's pointerdown
  doc.dispatch("click", { ...at, pointerType: "" }); // an empty pointerType: the pointerdown's
  doc.dispatch("pointerdown", { pointerType: "mouse", target: button });
  doc.dispatch("click", { ...at, pointerType: "touch" }); // its own type wins
  doc.dispatch("pointerdown", { pointerType: "stylus-ish", target: button }); // unknown: ignored
  doc.dispatch("click", { ...at });
  doc.dispatch("click", { target: button, pageX: 0, pageY: 0, clientX: 0, clientY: 0, detail: 0 }); // keyboard
  clock.advance(1000);
  const clicks = kinds("click");
  assert.deepEqual(clicks.map((click) => click.pt), [undefined, "touch", "pen", "touch", "touch", "touch", "mouse", undefined]);
  assert.equal("pt" in clicks[0], false);
  assert.equal("pt" in clicks.at(-1), false, "a keyboard activation names no pointer");
  for (const click of clicks) assert.equal(validateEvent(click), null);
});

test("a tap records one click with pt touch and nothing else: no move, no hover", () => {
  // What Chromium fires for a tap on a touch screen, in order.
  const link = h("a", { "data-product-id": "p007", href: "/product/p007" });
  link.rect = { left: 10, top: 200, width: 180, height: 240 };
  h("main", {}, link);
  const { clock, doc, kinds, events } = setup({ path: "/catalog", hover: false, width: 390 });
  const point = { target: link, pageX: 100, pageY: 320, clientX: 100, clientY: 320 };
  doc.dispatch("pointerover", { ...point, pointerType: "touch" });
  doc.dispatch("pointerdown", { ...point, pointerType: "touch" });
  clock.advance(80);
  doc.dispatch("pointerup", { ...point, pointerType: "touch" });
  doc.dispatch("mouseover", { ...point }); // compatibility mouse events: not listened to
  doc.dispatch("mousemove", { ...point });
  doc.dispatch("click", { ...point, pointerType: "touch", detail: 1 });
  doc.dispatch("pointerout", { ...point, pointerType: "touch", relatedTarget: null });
  clock.advance(3000);
  assert.deepEqual(events().map((event) => event.k), ["page", "click"]);
  assert.deepEqual(kinds("click").map(({ t, ...rest }) => rest), [
    { k: "click", x: 100, y: 320, a: '[data-product-id="p007"]', rx: 0.5, ry: 0.5, pid: "p007", pt: "touch", ia: 1 },
  ]);
});

test("a swipe records scroll events only; a long press with no click records nothing", () => {
  const card = h("a", { "data-product-id": "p007" });
  card.rect = { left: 10, top: 200, width: 180, height: 240 };
  h("main", {}, card);
  const { clock, doc, win, events } = setup({ path: "/catalog", hover: false, width: 390, height: 844, docOptions: { height: 4000 } });
  // Swipe: the finger drags up, the page scrolls; the browser cancels the pointer once it scrolls.
  doc.dispatch("pointerover", { target: card, pointerType: "touch" });
  doc.dispatch("pointerdown", { target: card, pointerType: "touch" });
  for (let i = 1; i <= 20; i += 1) {
    doc.dispatch("pointermove", { target: card, pointerType: "touch", pageX: 195, pageY: 600 - i * 30 + win.scrollY });
    win.scrollY = i * 35;
    win.dispatch("scroll");
    clock.advance(16);
  }
  doc.dispatch("pointercancel", { target: card, pointerType: "touch" });
  clock.advance(2000);
  assert.deepEqual([...new Set(events().map((event) => event.k))], ["page", "scroll"]);
  assert.equal(events().at(-1).y, 700);
  // Long press on a phone: pointerdown, held, contextmenu, no click.
  const before = events().length;
  doc.dispatch("pointerdown", { target: card, pointerType: "touch" });
  clock.advance(900);
  doc.dispatch("contextmenu", { target: card, pointerType: "touch" });
  doc.dispatch("pointerup", { target: card, pointerType: "touch" });
  clock.advance(2000);
  assert.equal(events().length, before);
});
