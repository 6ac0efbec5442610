// The rrweb recorder's channel: sampling, privacy options, chunking, acks, retries, isolation.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  BLOCK_SELECTOR,
  FLUSH_AT_EVENTS,
  FLUSH_INTERVAL_MS,
  bootRecorder,
  createRecorder,
  recordOptions,
  sampled,
  socketSender,
  splitEvents,
} from "../src/recorder.js";
import { FakeSocket, SID, fakeClock, fakeWindow } from "./helpers/fakes.js";

const PVID = "pageview_AbCdEfGh123456";
const flushPromises = () => new Promise((resolve) => setImmediate(resolve));

function fakeRecord({ initial = [] } = {}) {
  const calls = [];
  const record = (options) => {
    calls.push(options);
    for (const event of initial) options.emit(event); // like rrweb: Meta and FullSnapshot at once
    return () => {
      calls.stopped = true;
    };
  };
  return { record, calls, emit: (event) => calls[calls.length - 1].emit(event) };
}

function rrwebEvent(i, extra = {}) {
  return { type: 3, timestamp: 1_700_000_000_000 + i, data: { source: 1, positions: [{ x: i, y: i }] }, ...extra };
}

function setup({ acks = [], active = () => true, config = {}, initial = [] } = {}) {
  const clock = fakeClock();
  const win = fakeWindow({ clock });
  const sent = [];
  const rr = fakeRecord({ initial });
  const recorder = createRecorder({
    record: rr.record,
    send: (chunk) => {
      sent.push(chunk);
      return Promise.resolve(acks.length ? acks.shift() : { ok: true, seq: chunk.seq });
    },
    sid: SID,
    pvid: PVID,
    window: win,
    isActive: active,
    config,
  });
  return { clock, win, sent, rr, recorder };
}

test("sampling is decided per visit id", () => {
  assert.equal(sampled(SID, 0), false);
  assert.equal(sampled(SID, 1), true);
  assert.equal(sampled(SID, 0.5), sampled(SID, 0.5), "the same visit gets the same answer");
  let kept = 0;
  for (let i = 0; i < 2000; i += 1) kept += sampled(`visit_${i}_abcdefgh`, 0.25) ? 1 : 0;
  assert.ok(kept > 400 && kept < 600, `about a quarter sampled (${kept}/2000)`);
});

test("rrweb masks every input and private text, and blocks private media", () => {
  const options = recordOptions(() => {}, () => true);
  assert.equal(options.maskAllInputs, true);
  assert.equal(options.maskTextSelector, "[data-private]");
  assert.equal(options.blockSelector, BLOCK_SELECTOR);
  for (const part of ["img[data-private]", "[data-private] img", "[data-private] video"]) {
    assert.ok(BLOCK_SELECTOR.includes(part), part);
  }
  assert.equal(options.recordCanvas, false);
});

test("events are sent every 2 s, or at 200 events, as numbered chunks", async () => {
  const { clock, sent, rr, recorder } = setup({ initial: [{ type: 4, timestamp: 1_700_000_000_000, data: {} }] });
  assert.equal(recorder.start(), true);
  assert.equal(recorder.stats.events, 1, "the snapshot emitted inside record() is kept");
  rr.emit(rrwebEvent(1));
  clock.advance(FLUSH_INTERVAL_MS - 1);
  assert.equal(sent.length, 0);
  clock.advance(1);
  assert.equal(sent.length, 1);
  assert.deepEqual(Object.keys(sent[0]).sort(), ["events", "pvid", "seq", "sid"]);
  assert.equal(sent[0].seq, 0);
  assert.equal(sent[0].events.length, 2);
  await flushPromises();
  for (let i = 0; i < FLUSH_AT_EVENTS; i += 1) rr.emit(rrwebEvent(10 + i));
  assert.equal(sent.length, 2, "a full buffer goes at once");
  assert.equal(sent[1].seq, 1);
  assert.equal(sent[1].events.length, FLUSH_AT_EVENTS);
  await flushPromises();
  assert.equal(recorder.stats.acked, 2);
  assert.equal(recorder.queued, 0);
});

test("a retryable ack keeps the chunk and resends it with backoff; others drop it", async () => {
  const { clock, sent, rr, recorder } = setup({
    acks: [{ ok: false, error: "unavailable" }, { ok: true, seq: 0 }, { ok: false, error: "invalid_event" }],
  });
  recorder.start();
  rr.emit(rrwebEvent(0));
  recorder.flush();
  await flushPromises();
  assert.equal(recorder.stats.retried, 1);
  assert.equal(recorder.queued, 1);
  clock.advance(999);
  assert.equal(sent.length, 1);
  clock.advance(1);
  assert.equal(sent.length, 2, "resent after 1 s");
  assert.equal(sent[1].seq, 0, "same sequence number: the server deduplicates");
  await flushPromises();
  rr.emit(rrwebEvent(1));
  recorder.flush();
  await flushPromises();
  assert.equal(recorder.stats.rejectedBy.invalid_event, 1);
  assert.equal(recorder.queued, 0);
});

test("chunks stay under the byte limit; a lone oversized event is dropped", () => {
  const events = [rrwebEvent(0), rrwebEvent(1, { data: { big: "x".repeat(3000) } }), rrwebEvent(2), rrwebEvent(3)];
  const { chunks, dropped } = splitEvents(events, 1000);
  assert.equal(dropped, 1);
  assert.ok(chunks.every((chunk) => JSON.stringify(chunk).length + 200 <= 1000));
  assert.equal(chunks.flat().length, 3);
});

test("an opt-out (tracker stopped) discards the buffer and stops rrweb", () => {
  let active = true;
  const { clock, sent, rr, recorder } = setup({ active: () => active });
  recorder.start();
  rr.emit(rrwebEvent(0));
  active = false;
  clock.advance(FLUSH_INTERVAL_MS);
  assert.equal(sent.length, 0);
  assert.equal(recorder.stats.running, false);
  assert.equal(rr.calls.stopped, true);
});

test("failures inside rrweb, the sink or the recorder never reach the page", async () => {
  const clock = fakeClock();
  const win = fakeWindow({ clock });
  const throwing = createRecorder({ record: () => { throw new Error("boom"); }, send: () => ({ ok: true }), sid: SID, pvid: PVID, window: win });
  assert.equal(throwing.start(), false);
  assert.equal(throwing.stats.errors, 1);

  const rr = fakeRecord();
  const recorder = createRecorder({ record: rr.record, send: () => { throw new Error("sink"); }, sid: SID, pvid: PVID, window: win });
  recorder.start();
  assert.equal(rr.calls[0].errorHandler(new Error("observer")), true, "rrweb's own errors are handled");
  rr.emit(rrwebEvent(0));
  assert.doesNotThrow(() => recorder.flush());
  await flushPromises();
  assert.ok(recorder.stats.errors >= 2);
  assert.equal(recorder.stats.retried, 1, "a throwing sink counts as offline and is retried");
});

test("the socket sender emits 'replay' with an ack timeout, or reports offline", async () => {
  const socket = new FakeSocket("/track", {});
  const transport = { socket: null, connect() { this.socket = socket; } };
  const send = socketSender(transport);
  assert.deepEqual(await send({ seq: 0 }), { ok: false, error: "offline" }, "connecting: try again later");
  socket.connected = true;
  const answer = send({ sid: SID, pvid: PVID, seq: 1, events: [] });
  const [emitted] = socket.emitted;
  assert.equal(emitted.name, "replay");
  assert.ok(emitted.timeout > 0);
  emitted.callback(null, { ok: true, seq: 1 });
  assert.deepEqual(await answer, { ok: true, seq: 1 });
  const late = send({ seq: 2 });
  socket.emitted[1].callback(new Error("timeout"));
  assert.deepEqual(await late, { ok: false, error: "timeout" });
});

test("boot records only while the tracker runs and the visit is sampled", async () => {
  const clock = fakeClock();
  const make = (rate, running) => {
    const win = fakeWindow({ clock });
    win.document.metas["vitrine-replay"] = String(rate);
    win.vitrineTracker = { running, pvid: PVID, transport: null };
    return win;
  };
  const rr = fakeRecord();
  assert.equal((await bootRecorder({ window: make(1, false), record: rr.record })).reason, "tracker_off");
  assert.equal((await bootRecorder({ window: make(0, true), record: rr.record })).reason, "not_sampled");
  const win = make(1, true);
  const state = await bootRecorder({ window: win, record: rr.record, send: () => ({ ok: true }) });
  assert.equal(state.reason, null);
  assert.equal(win.vitrineRecorder.stats.running, true);
  assert.equal(rr.calls.length, 1);
  assert.equal(rr.calls[0].maskAllInputs, true);
});
