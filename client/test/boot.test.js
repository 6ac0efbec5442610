// boot() is the browser composition root; here it runs against the fakes (one boot per process).
import { test } from "node:test";
import assert from "node:assert/strict";

import { boot } from "../src/tracker.js";
import { PENDING_KEY } from "../src/transport.js";
import { fakeClock, fakeIo, fakeStorage, fakeWindow } from "./helpers/fakes.js";

test("boot wires the tracker to the Socket.IO transport and the beacon", async () => {
  const clock = fakeClock();
  const { io, sockets } = fakeIo();
  const beacons = [];
  const storage = fakeStorage();
  const win = fakeWindow({ clock, path: "/cart", navigator: { onLine: true } });
  win.navigator.sendBeacon = function sendBeacon(url, blob) {
    assert.equal(this, win.navigator, "called on navigator, not detached");
    beacons.push({ url, blob });
    return true;
  };
  win.sessionStorage = storage;

  const tracker = boot({ window: win, io, now: clock.now });
  assert.equal(boot({ window: win, io }), tracker, "boot is idempotent");
  assert.equal(win.vitrineTracker, tracker);
  assert.equal(tracker.running, true);

  clock.advance(1000);
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url, "/track");
  sockets[0].connectNow();
  assert.equal(sockets[0].emitted.length, 1);
  const [first] = sockets[0].emitted;
  assert.equal(first.data.events[0].k, "page");
  assert.equal(first.data.path, "/cart");
  first.callback(null, { ok: true, seq: 0 });
  assert.equal(storage.getItem(PENDING_KEY), null);

  win.document.dispatch("vitrine:cart", { detail: { op: "checkout" } });
  win.document.visibilityState = "hidden";
  win.document.dispatch("visibilitychange");
  assert.equal(beacons.length, 1);
  assert.equal(beacons[0].url, "/record-session-data");
  const sent = JSON.parse(await beacons[0].blob.text());
  assert.deepEqual(sent.events.map((event) => event.k), ["cart", "vis"]);
  assert.equal(sent.seq, 1);
  assert.equal(sockets[0].emitted.length, 1, "the tail went by beacon only");
});
