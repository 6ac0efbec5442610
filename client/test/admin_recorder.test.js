// The rrweb recorder's channel: sampling, privacy options, chunking, acks, isolation. Retries
// and the queue belong to the transport (transport.test.js, "request").
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  BLOCK_SELECTOR,
  FLUSH_AT_EVENTS,
  FLUSH_INTERVAL_MS,
  REPLAY_EVENT,
  REPLAY_REQUEST,
  createRecorder,
  pageRecorder,
  recordOptions,
  sampled,
  splitEvents,
} from "../src/recorder.js";
import { SID, fakeClock, fakeWindow } from "./helpers/fakes.js";

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

test("the recorder counts the sender's final answers: acks, refusals by code, overflow", async () => {
  const { sent, rr, recorder } = setup({
    acks: [{ ok: true, seq: 0 }, { ok: false, error: "invalid_event" }, { ok: false, error: "overflow" }],
  });
  recorder.start();
  for (let i = 0; i < 3; i += 1) {
    rr.emit(rrwebEvent(i));
    recorder.flush();
  }
  assert.deepEqual(sent.map((chunk) => chunk.seq), [0, 1, 2], "one chunk per flush, numbered");
  assert.equal(recorder.queued, 3, "all three await their answer");
  await flushPromises();
  assert.equal(recorder.queued, 0);
  assert.equal(recorder.stats.acked, 1);
  assert.deepEqual(recorder.stats.rejectedBy, { invalid_event: 1 });
  assert.equal(recorder.stats.overflow, 1);
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
  assert.deepEqual(recorder.stats.rejectedBy, { send_failed: 1 }, "a throwing sink loses that chunk only");
  rr.emit(rrwebEvent(1));
  assert.equal(recorder.stats.running, true, "and recording goes on");
});

test("the page recorder runs only while the tracker runs and the visit is sampled", async () => {
  const clock = fakeClock();
  const make = (rate) => {
    const win = fakeWindow({ clock });
    win.document.metas["vitrine-replay"] = String(rate);
    return win;
  };
  const rr = fakeRecord();
  const send = () => Promise.resolve({ ok: true });
  const tracker = { running: false, pvid: PVID };
  const off = pageRecorder({ window: make(1), tracker, send, record: rr.record });
  assert.equal(await off.start(), false);
  assert.equal(off.state.reason, "tracker_off");
  assert.equal(off.stats, null);
  tracker.running = true;
  const unsampled = pageRecorder({ window: make(0), tracker, send, record: rr.record });
  assert.equal(await unsampled.start(), false);
  assert.equal(unsampled.state.reason, "not_sampled");
  assert.equal(rr.calls.length, 0);

  assert.equal(await off.start(), true, "the consent banner starts it once the tracker runs");
  assert.equal(off.state.reason, null);
  assert.equal(off.stats.running, true);
  assert.equal(rr.calls.length, 1);
  assert.equal(rr.calls[0].maskAllInputs, true);
  rr.emit(rrwebEvent(0));
  tracker.running = false; // stopped (the shopper declined): the next flush discards
  clock.advance(2000);
  assert.equal(off.stats.running, false);
  assert.equal(off.stats.chunks, 0, "nothing recorded after the stop was sent");
  assert.equal(rr.calls.stopped, true);
});

test("chunks carry the tracker's pvid and go to send(), the transport's replay request in main.js", async () => {
  const clock = fakeClock();
  const win = fakeWindow({ clock });
  win.document.metas["vitrine-replay"] = "1";
  const rr = fakeRecord();
  const sent = [];
  const handle = pageRecorder({ window: win, tracker: { running: true, pvid: PVID }, send: (chunk) => {
    sent.push(chunk);
    return Promise.resolve({ ok: true, seq: chunk.seq });
  }, record: rr.record });
  await handle.start();
  rr.emit(rrwebEvent(0));
  win.dispatch("pagehide");
  assert.equal(sent.length, 1, "pagehide flushes at once");
  assert.deepEqual({ ...sent[0], events: sent[0].events.length }, { sid: SID, pvid: PVID, seq: 0, events: 1 });
  assert.equal(REPLAY_EVENT, "replay");
  assert.deepEqual(REPLAY_REQUEST, { timeoutMs: 8000, maxQueued: 30 });
});
