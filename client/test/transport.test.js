import { test } from "node:test";
import assert from "node:assert/strict";

import { BEACON_URL, MAX_PENDING_BATCHES, PENDING_KEY, createTransport } from "../src/transport.js";
import { fakeClock, fakeDocument, fakeIo, fakeStorage } from "./helpers/fakes.js";

function batch(seq, { pvid = "pv_AAAAAAAAAAAAAAAAAAAA", events } = {}) {
  return {
    v: 1,
    vid: "visitor_AbCdEfGh12345",
    sid: "session_XyZ0987654321",
    pvid,
    seq,
    t0: 1_700_000_000_000,
    path: "/",
    events: events ?? [{ k: "move", t: seq, x: 1, y: 2 }],
  };
}

function setup({ storage = fakeStorage(), online = true, beaconResult = true, connected = true, limits, auth } = {}) {
  const clock = fakeClock();
  const { io, sockets, calls } = fakeIo();
  const beacons = [];
  const doc = fakeDocument();
  const state = { online };
  const options = {
    io,
    url: "/track",
    storage,
    beacon: (url, blob) => {
      beacons.push({ url, blob });
      return beaconResult;
    },
    document: doc,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 0.5, // no jitter: delays are exactly the backoff base
    isOnline: () => state.online,
    limits,
    auth,
  };
  const transport = createTransport(options);
  const socket = () => sockets[0];
  const connect = () => {
    transport.connect();
    if (connected) socket().connectNow();
  };
  return { clock, io, sockets, calls, socket, transport, storage, beacons, doc, state, options, connect };
}

const stored = (storage) => storage.read(PENDING_KEY) ?? [];
const storedSeqs = (storage) => stored(storage).map((item) => item.batch.seq);

test("connects to /track over websocket only, with credentials, and emits acknowledged batches", () => {
  const { transport, calls, socket, connect } = setup();
  connect();
  transport.send(batch(0));
  assert.deepEqual(calls, [{ url: "/track", options: { transports: ["websocket"], withCredentials: true } }]);
  assert.equal(socket().emitted.length, 1);
  const [emit] = socket().emitted;
  assert.equal(emit.name, "batch");
  assert.equal(emit.timeout, 5000);
  assert.equal(typeof emit.callback, "function");
  assert.deepEqual(emit.data, batch(0));
});

test("the socket is opened lazily, on the first batch", () => {
  const { transport, calls } = setup();
  assert.equal(calls.length, 0);
  transport.send(batch(0));
  assert.equal(calls.length, 1);
});

test("a batch is persisted before it is sent, and removed when acknowledged", () => {
  const { transport, socket, storage, connect } = setup();
  connect();
  let storedAtEmit = null;
  socket().onEmit = () => {
    storedAtEmit = storedSeqs(storage);
  };
  transport.send(batch(0));
  assert.deepEqual(storedAtEmit, [0]);
  socket().emitted[0].callback(null, { ok: true, seq: 0 });
  assert.equal(storage.getItem(PENDING_KEY), null);
  assert.equal(transport.stats.acked, 1);
  assert.equal(transport.pending.length, 0);
});

for (const error of ["unavailable", "rate_limited"]) {
  test(`${error} keeps the batch and resends it with capped exponential backoff`, () => {
    const { transport, socket, storage, clock, connect } = setup();
    connect();
    transport.send(batch(0));
    const delays = [];
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const sent = socket().emitted.length;
      socket().emitted.at(-1).callback(null, { ok: false, error });
      assert.deepEqual(storedSeqs(storage), [0], "still kept");
      let waited = 0;
      while (socket().emitted.length === sent) {
        clock.advance(100);
        waited += 100;
        assert.ok(waited <= 60_000, "resent eventually");
      }
      delays.push(waited);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    socket().emitted.at(-1).callback(null, { ok: false, error });
    const sent = socket().emitted.length;
    transport.send(batch(1));
    assert.equal(socket().emitted.length, sent, "no new emits while backing off");
    clock.advance(30_000);
    assert.deepEqual(socket().emitted.slice(sent).map((emit) => emit.data.seq), [0, 1]);
    socket().emitted.at(-2).callback(null, { ok: true, seq: 0 });
    assert.deepEqual(storedSeqs(storage), [1]);
    assert.equal(transport.stats.retried, 9);
    const before = socket().emitted.length;
    socket().emitted.at(-1).callback(null, { ok: false, error });
    clock.advance(999);
    assert.equal(socket().emitted.length, before, "backoff restarts from 1 s after a success");
    clock.advance(1);
    assert.equal(socket().emitted.length, before + 1);
  });
}

test("an ack timeout keeps the batch for a resend", () => {
  const { transport, socket, storage, clock, connect } = setup();
  connect();
  transport.send(batch(0));
  socket().emitted[0].callback(new Error("operation has timed out"));
  assert.deepEqual(storedSeqs(storage), [0]);
  clock.advance(1000);
  assert.equal(socket().emitted.length, 2);
});

test("a validation error drops the batch and counts it", () => {
  const { transport, socket, storage, clock, connect } = setup();
  connect();
  transport.send(batch(0));
  transport.send(batch(1));
  socket().emitted[0].callback(null, { ok: false, error: "invalid_event" });
  socket().emitted[1].callback(null, { ok: false, error: "forbidden_visitor" });
  assert.equal(storage.getItem(PENDING_KEY), null);
  assert.equal(transport.stats.rejected, 2);
  assert.deepEqual(transport.stats.rejectedBy, { invalid_event: 1, forbidden_visitor: 1 });
  clock.advance(120_000);
  assert.equal(socket().emitted.length, 2, "never resent");
});

test("the pending store keeps at most 200 batches, dropping the oldest", () => {
  const { transport, storage, socket, connect } = setup({ connected: false });
  connect();
  for (let seq = 0; seq < MAX_PENDING_BATCHES + 5; seq += 1) transport.send(batch(seq));
  assert.equal(socket().emitted.length, 0);
  const seqs = storedSeqs(storage);
  assert.equal(seqs.length, 200);
  assert.equal(seqs[0], 5);
  assert.equal(seqs.at(-1), 204);
  assert.equal(transport.stats.overflow, 5);
});

test("the pending store stays under ~1 MB", () => {
  const { transport, storage } = setup({ connected: false });
  const big = (seq) => batch(seq, { events: Array.from({ length: 400 }, (_, t) => ({ k: "page", t, path: "/", title: "x".repeat(600), ref: "", vw: 1, vh: 1, dh: 1, dev: "mobile" })) });
  for (let seq = 0; seq < 6; seq += 1) transport.send(big(seq)); // ~280 KB each
  assert.ok(storage.getItem(PENDING_KEY).length <= 1_000_000 + 1000);
  assert.deepEqual(storedSeqs(storage), [3, 4, 5]);
  assert.equal(transport.stats.overflow, 3);
});

test("a full storage quota never throws: the oldest half is dropped", () => {
  const storage = fakeStorage({ quotaChars: 2000 });
  const { transport } = setup({ storage, connected: false });
  assert.doesNotThrow(() => {
    for (let seq = 0; seq < 30; seq += 1) transport.send(batch(seq));
  });
  assert.ok(transport.stats.storageErrors > 0);
  assert.ok(storage.getItem(PENDING_KEY).length <= 2000);
  assert.equal(stored(storage).at(-1).batch.seq, 29);
});

test("batches wait for the connection and are resent after a reconnect", () => {
  const { transport, socket, connect } = setup({ connected: false });
  connect();
  transport.send(batch(0));
  transport.send(batch(1));
  assert.equal(socket().emitted.length, 0);
  socket().connectNow();
  assert.deepEqual(socket().emitted.map((emit) => emit.data.seq), [0, 1]);
  socket().emitted[0].callback(null, { ok: true, seq: 0 });
  socket().dropNow();
  socket().connectNow();
  assert.deepEqual(socket().emitted.map((emit) => emit.data.seq), [0, 1, 1]);
  socket().emitted[1].callback(new Error("operation has timed out")); // stale: superseded by the resend
  assert.equal(transport.stats.retried, 0);
  transport.send(batch(2));
  assert.deepEqual(socket().emitted.map((emit) => emit.data.seq), [0, 1, 1, 2], "not backing off");
  socket().emitted[2].callback(null, { ok: true, seq: 1 });
  socket().emitted[3].callback(null, { ok: true, seq: 2 });
  assert.equal(transport.pending.length, 0);
});

test("at most 4 batches are in flight at once", () => {
  const { transport, socket, connect } = setup();
  connect();
  for (let seq = 0; seq < 10; seq += 1) transport.send(batch(seq));
  assert.equal(socket().emitted.length, 4);
  socket().emitted[0].callback(null, { ok: true, seq: 0 });
  assert.deepEqual(socket().emitted.map((emit) => emit.data.seq), [0, 1, 2, 3, 4]);
});

test("batches left by a previous page load are resent by the next one", () => {
  const storage = fakeStorage();
  const first = setup({ storage, connected: false });
  first.connect();
  first.transport.send(batch(0, { pvid: "pv_previous_page_1234" }));
  first.transport.send(batch(1, { pvid: "pv_previous_page_1234" }));

  const second = setup({ storage });
  assert.equal(second.transport.stats.restored, 2);
  second.connect();
  second.transport.send(batch(0, { pvid: "pv_this_page_12345678" }));
  assert.deepEqual(second.socket().emitted.map((emit) => `${emit.data.pvid}:${emit.data.seq}`), [
    "pv_previous_page_1234:0",
    "pv_previous_page_1234:1",
    "pv_this_page_12345678:0",
  ]);
});

test("a corrupt pending store is ignored", () => {
  const storage = fakeStorage();
  storage.setItem(PENDING_KEY, "{not json");
  const { transport } = setup({ storage });
  assert.equal(transport.pending.length, 0);
  storage.setItem(PENDING_KEY, JSON.stringify([{ batch: { seq: "x" } }, 7, null, { batch: batch(3) }]));
  const again = setup({ storage });
  assert.deepEqual(again.transport.pending.map((b) => b.seq), [3]);
});

test("an unload batch leaves by sendBeacon as JSON, with the unacknowledged tail, and not on the socket", async () => {
  const { transport, socket, beacons, storage, connect } = setup();
  connect();
  transport.send(batch(0)); // in flight, no ack yet
  transport.send(batch(1), { unload: true });
  assert.deepEqual(socket().emitted.map((emit) => emit.data.seq), [0], "the unload batch is not emitted");
  assert.equal(beacons.length, 2);
  for (const { url, blob } of beacons) {
    assert.equal(url, BEACON_URL);
    assert.equal(url, "/record-session-data");
    assert.equal(blob.type, "application/json");
  }
  assert.deepEqual((await Promise.all(beacons.map(({ blob }) => blob.text()))).map((text) => JSON.parse(text).seq), [1, 0]);
  assert.deepEqual(stored(storage).map((item) => [item.batch.seq, item.beacon === true]), [[0, true], [1, true]]);
  transport.send(batch(2), { unload: true });
  assert.equal(beacons.length, 3, "batches already beaconed are not beaconed again");

  const next = setup({ storage });
  assert.equal(next.transport.pending.length, 0, "beaconed while online: not resent by the next page");
});

test("a beacon sent while offline does not count as delivered: the next page resends it", () => {
  const { transport, beacons, storage } = setup({ online: false });
  transport.send(batch(0), { unload: true });
  assert.equal(beacons.length, 1);
  assert.deepEqual(stored(storage), [{ batch: batch(0) }]);
  const next = setup({ storage });
  next.connect();
  assert.deepEqual(next.socket().emitted.map((emit) => emit.data.seq), [0]);
});

test("a refused beacon keeps the batch for the socket", () => {
  const { transport, storage, socket, connect } = setup({ beaconResult: false });
  connect();
  transport.send(batch(0), { unload: true });
  assert.equal(transport.stats.beaconFailed, 1);
  assert.deepEqual(stored(storage), [{ batch: batch(0) }]);
  assert.deepEqual(socket().emitted.map((emit) => emit.data.seq), [0]);
});

test("after an unload beacon, a tab that comes back does not resend beaconed batches", () => {
  const { transport, socket, connect } = setup();
  connect();
  transport.send(batch(0), { unload: true });
  transport.send(batch(1));
  assert.deepEqual(socket().emitted.map((emit) => emit.data.seq), [1]);
});

test("server pushes go to the handlers given to on(), before or after the socket opens; no DOM", () => {
  const { transport, socket, doc, connect } = setup();
  const seen = [];
  transport.on("persona", (data) => seen.push(["persona", data]));
  transport.on("persona", () => {
    throw new Error("a broken handler");
  });
  transport.on("persona", (data) => seen.push(["persona again", data]));
  connect();
  transport.on("adapt", (data) => seen.push(["adapt", data]));
  socket().fire("persona", { persona: "bargain_hunter", confidence: 0.82 });
  socket().fire("adapt", { adaptations: ["coupon"] });
  assert.deepEqual(seen, [
    ["persona", { persona: "bargain_hunter", confidence: 0.82 }],
    ["persona again", { persona: "bargain_hunter", confidence: 0.82 }],
    ["adapt", { adaptations: ["coupon"] }],
  ]);
  assert.equal(transport.stats.errors, 1, "the throwing handler is counted, the next one still runs");
  assert.equal(socket().handlers.persona.length, 1, "one socket listener per event");
  assert.deepEqual(doc.body.dataset, {}, "the transport writes nothing into the page (push.js does)");
  assert.equal(doc.dispatched.length, 0);
});

const chunk = (seq) => ({ sid: "session_XyZ0987654321", pvid: "pv_AAAAAAAAAAAAAAAAAAAA", seq, events: [] });
const settled = () => new Promise((resolve) => setImmediate(resolve));

test("request emits an acknowledged event with its own timeout and resolves with the ack", async () => {
  const { transport, socket, calls, connect } = setup();
  const answer = transport.request("replay", chunk(0), { timeoutMs: 8000 });
  assert.equal(calls.length, 1, "a request opens the socket lazily too");
  connect();
  const [emitted] = socket().emitted;
  assert.equal(emitted.name, "replay");
  assert.equal(emitted.timeout, 8000);
  assert.deepEqual(emitted.data, chunk(0));
  emitted.callback(null, { ok: true, seq: 0 });
  assert.deepEqual(await answer, { ok: true, seq: 0 });
  assert.equal(transport.stats.requests.replay.acked, 1);
  assert.equal(transport.stats.acked, 0, "batch counters untouched");
  assert.equal(transport.stats.pending, 0, "requests are never written to the batch store");
});

test("requests wait for the connection, go one at a time in order, and are resent after a reconnect", async () => {
  const { transport, socket, storage, connect } = setup({ connected: false });
  const answers = [0, 1, 2].map((seq) => transport.request("replay", chunk(seq)));
  connect();
  assert.equal(socket().emitted.length, 0, "no emit while disconnected, and no failure either");
  socket().connectNow();
  assert.deepEqual(socket().emitted.map((e) => e.data.seq), [0], "one in flight");
  assert.equal(socket().emitted[0].timeout, 5000, "the transport's ack timeout by default");
  socket().dropNow();
  socket().connectNow();
  assert.deepEqual(socket().emitted.map((e) => e.data.seq), [0, 0], "resent after the reconnect");
  socket().emitted[1].callback(null, { ok: true, seq: 0 });
  socket().emitted[2].callback(null, { ok: true, seq: 1 });
  socket().emitted[3].callback(null, { ok: true, seq: 2 });
  assert.deepEqual((await Promise.all(answers)).map((ack) => ack.seq), [0, 1, 2]);
  assert.equal(storage.getItem(PENDING_KEY), null);
});

test("a request is retried with backoff on a timeout or a retryable code, and a refusal is final", async () => {
  const { transport, socket, clock, connect } = setup();
  connect();
  const first = transport.request("replay", chunk(0));
  socket().emitted[0].callback(new Error("operation has timed out"));
  clock.advance(999);
  assert.equal(socket().emitted.length, 1);
  clock.advance(1);
  assert.equal(socket().emitted.length, 2, "resent after 1 s");
  socket().emitted[1].callback(null, { ok: false, error: "busy" });
  clock.advance(1999);
  assert.equal(socket().emitted.length, 2);
  clock.advance(1);
  assert.equal(socket().emitted.length, 3, "then after 2 s");
  assert.deepEqual(socket().emitted.map((e) => e.data.seq), [0, 0, 0], "the same chunk: the server deduplicates");
  socket().emitted[2].callback(null, { ok: true, seq: 0 });
  assert.deepEqual(await first, { ok: true, seq: 0 });

  const refused = transport.request("replay", chunk(1));
  socket().emitted[3].callback(null, { ok: false, error: "invalid_chunk" });
  assert.deepEqual(await refused, { ok: false, error: "invalid_chunk" });
  clock.advance(60_000);
  assert.equal(socket().emitted.length, 4, "never resent");
  assert.deepEqual(transport.stats.requests.replay.rejectedBy, { invalid_chunk: 1 });
  assert.equal(transport.stats.requests.replay.retried, 2);
});

test("a request lane backing off never holds batches back", () => {
  const { transport, socket, connect } = setup();
  connect();
  transport.request("replay", chunk(0));
  socket().emitted[0].callback(null, { ok: false, error: "rate_limited" });
  transport.send(batch(0));
  assert.deepEqual(socket().emitted.map((e) => e.name), ["replay", "batch"]);
});

test("a full request queue answers overflow for the oldest waiting request", async () => {
  const { transport, socket, connect } = setup();
  connect();
  const answers = [0, 1, 2, 3].map((seq) => transport.request("replay", chunk(seq), { maxQueued: 2 }));
  assert.deepEqual(await answers[1], { ok: false, error: "overflow" }, "0 is in flight and keeps its ack");
  assert.deepEqual(await answers[2], { ok: false, error: "overflow" });
  socket().emitted[0].callback(null, { ok: true, seq: 0 });
  assert.deepEqual(socket().emitted.map((e) => e.data.seq), [0, 3]);
  socket().emitted[1].callback(null, { ok: true, seq: 3 });
  assert.deepEqual((await Promise.all(answers)).map((ack) => ack.ok), [true, false, false, true]);
  assert.equal(transport.stats.requests.replay.overflow, 2);
});

test("discard forgets kept batches (storage too) and waiting requests, and disconnects", async () => {
  const { transport, socket, storage, connect } = setup({ connected: false });
  connect();
  transport.send(batch(0));
  const waiting = transport.request("replay", chunk(0));
  assert.deepEqual(storedSeqs(storage), [0]);
  transport.discard();
  assert.equal(storage.getItem(PENDING_KEY), null);
  assert.equal(transport.pending.length, 0);
  assert.deepEqual(await waiting, { ok: false, error: "discarded" });
  socket().connectNow();
  assert.equal(socket().emitted.length, 0, "nothing left to send");
  transport.close();
  assert.deepEqual(await transport.request("replay", chunk(1)), { ok: false, error: "closed" });
  assert.equal(transport.connected, false);
  assert.equal(transport.opened, true);
});

test("transport failures never throw into the caller", () => {
  const { transport, socket, connect } = setup();
  connect();
  socket().timeout = () => {
    throw new Error("boom");
  };
  assert.doesNotThrow(() => transport.send(batch(0)));
  assert.equal(transport.send(null), false);
  assert.ok(transport.stats.errors >= 1);
  assert.doesNotThrow(() => socket().fire("persona", null));
});

test("socket.io is loaded lazily through loadIo when no io is given", async () => {
  const { io, sockets } = fakeIo();
  let loads = 0;
  const transport = createTransport({
    loadIo: async () => {
      loads += 1;
      return io;
    },
    storage: null,
    document: fakeDocument(),
  });
  transport.send(batch(0));
  transport.send(batch(1));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(loads, 1);
  assert.equal(sockets.length, 1);
  sockets[0].connectNow();
  assert.deepEqual(sockets[0].emitted.map((emit) => emit.data.seq), [0, 1]);
});

test("passes the auth callback to every connection, so the server hears what the page shows", () => {
  const auth = (send) => send({ persona: "unknown" });
  const { calls, connect } = setup({ auth });
  connect();
  assert.equal(calls.length, 1);
  assert.equal(calls[0].options.auth, auth);
  assert.deepEqual(calls[0].options.transports, ["websocket"]);
});
