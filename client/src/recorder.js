// Recorder: rrweb session recording on a channel of its own, for replays (docs/admin.md).
//
// rrweb's `record` takes an `emit` function; so does this module: `createRecorder` buffers
// rrweb events and hands chunks `{sid, pvid, seq, events}` to `send(chunk) -> Promise<ack>`,
// never knowing the transport. main.js makes `send` the transport's acknowledged request
// (event "replay", REPLAY_REQUEST), which owns the ack timeout, the backoff and the queue.
// Privacy: every input is masked, `[data-private]` text is masked and its media blocked; it
// runs only while the tracker runs (DNT, GPC and consent decide both). No exception escapes
// into the page.

import { metaContent } from "./dom.js";
import { loadScript } from "./http.js";
import { scrubEvent } from "./url_scrub.js";

export const FLUSH_INTERVAL_MS = 2000;
export const FLUSH_AT_EVENTS = 200;
export const DEFAULT_MAX_BYTES = 512 * 1024;
export const MAX_QUEUED_CHUNKS = 30;
export const ACK_TIMEOUT_MS = 8000;
export const REPLAY_EVENT = "replay";
// How the transport sends chunks: a full queue drops the oldest waiting chunk (the replay
// shows a gap rather than the page holding megabytes).
export const REPLAY_REQUEST = Object.freeze({ timeoutMs: ACK_TIMEOUT_MS, maxQueued: MAX_QUEUED_CHUNKS });
export const RRWEB_SCRIPT = "/vendor/rrweb.min.js";
export const PRIVATE_SELECTOR = "[data-private]";
export const BLOCK_SELECTOR = ["img", "video", "audio", "picture", "canvas", "svg", "iframe"]
  .flatMap((tag) => [`${tag}[data-private]`, `[data-private] ${tag}`])
  .join(", ");
const ENVELOPE_BYTES = 200; // {sid, pvid, seq, events: […]} around the events

/** Decide from the visit id whether this visit is recorded (same answer on every page). */
export function sampled(sid, rate) {
  if (!(rate > 0)) return false;
  if (rate >= 1) return true;
  let hash = 0x811c9dc5; // FNV-1a, 32 bits
  for (let i = 0; i < String(sid).length; i += 1) {
    hash ^= String(sid).charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 0x100000000 < rate;
}

/** The options handed to rrweb's record(): masking first, then cost. */
export function recordOptions(emit, errorHandler) {
  return {
    emit,
    errorHandler,
    maskAllInputs: true,
    maskTextSelector: PRIVATE_SELECTOR,
    blockSelector: BLOCK_SELECTOR,
    recordCanvas: false,
    collectFonts: false,
    inlineImages: false,
    sampling: { mousemove: 50, scroll: 150, input: "last" },
  };
}

/** Split events into lists whose JSON stays under `maxBytes`; a lone oversized event is dropped. */
export function splitEvents(events, maxBytes) {
  const chunks = [];
  let current = [];
  let size = ENVELOPE_BYTES;
  let dropped = 0;
  for (const event of events) {
    const bytes = new TextEncoder().encode(JSON.stringify(event)).length + 1;
    if (bytes + ENVELOPE_BYTES > maxBytes) {
      dropped += 1;
      continue;
    }
    if (current.length && size + bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = ENVELOPE_BYTES;
    }
    current.push(event);
    size += bytes;
  }
  if (current.length) chunks.push(current);
  return { chunks, dropped };
}

/**
 * Record with `record` (rrweb's) and send chunks through `send(chunk)`, which resolves with
 * the final ack (retries are the sender's business). Options: `sid`, `pvid`, `window`
 * (timers), `isActive()` (false stops and discards: the shopper opted out), `config`
 * {flushIntervalMs, flushAtEvents, maxBytes}.
 */
export function createRecorder(options) {
  const win = options.window;
  const config = {
    flushIntervalMs: FLUSH_INTERVAL_MS,
    flushAtEvents: FLUSH_AT_EVENTS,
    maxBytes: DEFAULT_MAX_BYTES,
    ...options.config,
  };
  const isActive = typeof options.isActive === "function" ? options.isActive : () => true;
  const stats = { running: false, events: 0, chunks: 0, pending: 0, acked: 0, rejected: 0, rejectedBy: {}, oversized: 0, overflow: 0, errors: 0, lastError: null };
  let buffer = [];
  let seq = 0;
  let stopRecording = null;
  let flushTimer = null;

  function fail(error) {
    stats.errors += 1;
    stats.lastError = String((error && error.message) || error).slice(0, 200);
  }

  function guarded(fn) {
    return (...args) => {
      try {
        return fn(...args);
      } catch (error) {
        fail(error);
        return undefined;
      }
    };
  }

  function onEvent(event) {
    if (!stats.running) return;
    buffer.push(scrubEvent(event)); // no query strings (search text) in replays
    stats.events += 1;
    if (buffer.length >= config.flushAtEvents) flush();
    else if (flushTimer === null) flushTimer = win.setTimeout(guarded(flush), config.flushIntervalMs);
  }

  function settle(ack) {
    stats.pending -= 1;
    if (ack && typeof ack === "object" && ack.ok === true) {
      stats.acked += 1;
      return;
    }
    const code = ack && typeof ack === "object" && typeof ack.error === "string" ? ack.error : "invalid_ack";
    if (code === "overflow") stats.overflow += 1;
    else {
      stats.rejected += 1;
      stats.rejectedBy[code] = (stats.rejectedBy[code] || 0) + 1;
    }
  }

  function sendChunk(chunk) {
    stats.pending += 1;
    let answer;
    try {
      answer = Promise.resolve(options.send(chunk));
    } catch (error) {
      fail(error);
      answer = Promise.resolve({ ok: false, error: "send_failed" });
    }
    answer.then(guarded(settle), guarded((error) => {
      fail(error);
      settle({ ok: false, error: "send_failed" });
    }));
  }

  function flush() {
    if (flushTimer !== null) win.clearTimeout(flushTimer);
    flushTimer = null;
    if (!isActive()) {
      stop({ discard: true });
      return 0;
    }
    const { chunks, dropped } = splitEvents(buffer, config.maxBytes);
    buffer = [];
    stats.oversized += dropped;
    for (const events of chunks) {
      const chunk = { sid: options.sid, pvid: options.pvid, seq, events };
      seq += 1;
      stats.chunks += 1;
      sendChunk(chunk);
    }
    return chunks.length;
  }

  function start() {
    if (stats.running) return true;
    stats.running = true; // before record(): rrweb emits the first snapshot synchronously
    try {
      const stopFn = options.record(recordOptions(guarded(onEvent), (error) => {
        fail(error);
        return true; // handled: rrweb must not rethrow into the page
      }));
      stopRecording = typeof stopFn === "function" ? stopFn : null;
    } catch (error) {
      stats.running = false;
      buffer = [];
      fail(error);
    }
    return stats.running;
  }

  function stop({ discard = false } = {}) {
    if (stopRecording) guarded(stopRecording)();
    stopRecording = null;
    const wasRunning = stats.running;
    if (discard) {
      if (flushTimer !== null) win.clearTimeout(flushTimer);
      flushTimer = null;
      buffer = [];
    } else if (wasRunning) {
      flush();
    }
    stats.running = false;
  }

  return {
    start: guarded(start),
    stop: guarded(stop),
    flush: guarded(flush),
    stats,
    /** Chunks handed to `send` whose final ack has not come yet. */
    get queued() {
      return stats.pending;
    },
  };
}

/**
 * The page's recorder, built by main.js: `tracker` is the page's tracker (the recorder runs
 * only while it does, and shares its pvid), `send(chunk)` the transport's replay request.
 * Returns a handle {state, stats, start(), stop(options)}; `start()` (async, idempotent)
 * reads `<meta name="vitrine-replay">`, decides sampling, loads rrweb and records. The
 * consent banner calls `start()` after the tracker's.
 */
export function pageRecorder(options = {}) {
  const win = options.window ?? (typeof window === "undefined" ? undefined : window);
  const { tracker, send } = options;
  const state = { reason: "not_started", recorder: null, error: null };
  const trackerRuns = () => Boolean(tracker && tracker.running);

  async function begin() {
    if (!win || !win.document) return false;
    const doc = win.document;
    try {
      const meta = doc.querySelector('meta[name="vitrine-replay"]');
      const rate = meta ? Number(meta.getAttribute("content")) : 0;
      const maxBytes = (meta && Number(meta.getAttribute("data-max-bytes"))) || DEFAULT_MAX_BYTES;
      const sid = metaContent("vitrine-sid", doc) || "";
      if (!trackerRuns()) {
        state.reason = "tracker_off";
        return false;
      }
      if (!sid || !sampled(sid, rate)) {
        state.reason = "not_sampled";
        return false;
      }
      if (typeof send !== "function") {
        state.reason = "no_send";
        return false;
      }
      if (!state.recorder) {
        const record = options.record ?? (await loadRrweb(win));
        state.recorder = createRecorder({
          record,
          send,
          sid,
          pvid: tracker.pvid,
          window: win,
          isActive: trackerRuns,
          config: { maxBytes },
        });
        const flushNow = () => state.recorder.flush();
        win.addEventListener("pagehide", flushNow);
        doc.addEventListener("visibilitychange", () => doc.visibilityState === "hidden" && flushNow());
      }
      state.reason = state.recorder.start() ? null : "error";
    } catch (error) {
      state.reason = "error";
      state.error = String((error && error.message) || error).slice(0, 200);
    }
    return state.reason === null;
  }

  return {
    state,
    /** The recorder's counters, or null until it recorded once. */
    get stats() {
      return state.recorder ? state.recorder.stats : null;
    },
    start: begin,
    stop: (stopOptions) => (state.recorder ? state.recorder.stop(stopOptions) : undefined),
  };
}

async function loadRrweb(win) {
  if (!win.rrweb) await loadScript(win.document, RRWEB_SCRIPT);
  if (!win.rrweb || typeof win.rrweb.record !== "function") throw new Error("rrweb missing");
  return win.rrweb.record;
}
