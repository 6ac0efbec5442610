// main.js is the storefront's composition root; here it wires a fake page (one boot per
// process, so the tests below run in order on the same page).
import { test } from "node:test";
import assert from "node:assert/strict";

import { boot } from "../src/main.js";
import { PENDING_KEY } from "../src/transport.js";
import { SID, VID, fakeIo, fakeStorage } from "./helpers/fakes.js";
import { h, installPage, settle } from "./helpers/dom.js";

const page = installPage({
  path: "/cart",
  metas: { "vitrine-vid": VID, "vitrine-sid": SID, "vitrine-consent": "granted", "vitrine-replay": "1" },
  bodyAttributes: { "data-page": "cart", "data-persona": "unknown", "data-arm": "treatment" },
  routes: { "POST /api/consent": { body: { state: "denied", analytics: false, personalization: false, recorded: {} } } },
  body: [h("main", {}, h("h1", {}, "Your cart")), h("div", { "data-consent-banner": "" }, h("button", { "data-action": "consent-decline" }, "Decline"))],
});
const storage = fakeStorage();
const beacons = [];
page.window.sessionStorage = storage;
page.window.navigator.sendBeacon = function sendBeacon(url, blob) {
  assert.equal(this, page.window.navigator, "called on navigator, not detached");
  beacons.push({ url, blob });
  return true;
};
const { io, sockets } = fakeIo();
const rrweb = [];
const record = (options) => {
  rrweb.push(options);
  options.emit({ type: 4, timestamp: 1_700_000_000_000, data: { href: "https://shop.test/cart" } });
  return () => rrweb.push("stopped");
};

const wired = boot({ window: page.window, io, now: page.clock.now, record });
const socket = () => sockets[0];

test("boot builds the page once and hands out no window global but the debug hook", async () => {
  assert.equal(boot({ window: page.window, io }), wired, "boot is idempotent");
  await wired.ready;
  assert.equal(wired.tracker.running, true);
  assert.equal(wired.recorder.state.reason, null, "recording: the tracker runs and the visit is sampled");
  assert.equal(page.window.vitrineTracker, undefined);
  assert.equal(page.window.vitrineRecorder, undefined);
  const debug = page.window.vitrineDebug;
  assert.deepEqual(Object.keys(debug), ["tracker", "transport", "recorder"]);
  assert.equal(Object.isFrozen(debug) && Object.isFrozen(debug.tracker), true, "read-only views");
  assert.equal(debug.tracker.pvid, wired.tracker.pvid);
  assert.equal(debug.transport.opened, false, "no socket before the first batch");
  assert.equal("start" in debug.tracker || "send" in debug.transport, false, "nothing to wire with");
});

test("the tracker's batches go through the transport: socket first, acknowledged", () => {
  page.clock.advance(1000);
  assert.equal(sockets.length, 1);
  assert.equal(socket().url, "/track");
  socket().connectNow();
  const [batch] = socket().emitted;
  assert.equal(batch.name, "batch");
  assert.equal(batch.timeout, 5000);
  assert.equal(batch.data.events[0].k, "page");
  assert.equal(batch.data.path, "/cart");
  batch.callback(null, { ok: true, seq: 0 });
  assert.equal(storage.getItem(PENDING_KEY), null);
  assert.equal(page.window.vitrineDebug.transport.stats.acked, 1);
  assert.equal(page.window.vitrineDebug.transport.connected, true);
});

test("the recorder's chunks are the transport's acknowledged 'replay' requests", async () => {
  page.clock.advance(1000); // the recorder's 2 s flush
  const replay = socket().emitted.filter((emit) => emit.name === "replay");
  assert.equal(replay.length, 1);
  assert.equal(replay[0].timeout, 8000);
  assert.deepEqual([replay[0].data.sid, replay[0].data.pvid, replay[0].data.seq], [SID, wired.tracker.pvid, 0]);
  replay[0].callback(null, { ok: true, seq: 0 });
  await settle();
  assert.equal(page.window.vitrineDebug.recorder.stats.acked, 1);
  assert.equal(wired.transport.stats.requests.replay.acked, 1);
});

test("server pushes reach the page through push.js and the adaptation layer", async () => {
  socket().fire("persona", { persona: "explorer", reasons: ["viewed 6 categories"] });
  assert.equal(page.document.body.dataset.persona, "explorer");
  socket().fire("adapt", { persona: "explorer", reasons: [], adaptations: [{ name: "discover-more", payload: { pages: [], categories: [{ slug: "garden", name: "Garden", href: "/catalog?category=garden" }] } }] });
  await settle();
  assert.ok(page.document.querySelector('[data-adaptation="discover-more"]'), "adapt.js rendered the push");
});

test("unload: the tail leaves by beacon, not on the socket", async () => {
  const batchesSent = () => socket().emitted.filter((emit) => emit.name === "batch").length;
  const before = batchesSent();
  page.document.dispatchEvent(new page.window.CustomEvent("vitrine:cart", { detail: { op: "checkout" } }));
  page.document.visibilityState = "hidden";
  page.document.dispatchEvent(new page.window.CustomEvent("visibilitychange"));
  assert.equal(beacons.length, 1);
  assert.equal(beacons[0].url, "/record-session-data");
  const sent = JSON.parse(await beacons[0].blob.text());
  assert.deepEqual(sent.events.map((event) => event.k), ["cart", "vis"]);
  assert.equal(sent.seq, 1);
  assert.equal(batchesSent(), before, "the tail went by beacon only");
});

test("the consent banner was handed the same objects: declining stops all three", async () => {
  page.document.visibilityState = "visible";
  page.document.querySelector('[data-action="consent-decline"]').click();
  await settle();
  assert.equal(wired.tracker.running, false);
  assert.equal(wired.recorder.stats.running, false);
  assert.equal(rrweb.at(-1), "stopped");
  assert.equal(wired.transport.connected, false, "disconnected");
  assert.equal(wired.transport.pending.length, 0);
  assert.equal(storage.getItem(PENDING_KEY), null);
  assert.equal(page.document.body.dataset.persona, "unknown");
});
