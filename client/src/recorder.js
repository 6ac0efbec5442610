// Recorder: rrweb session recording on a channel of its own, for replays (docs/admin.md).
//
// rrweb's `record` takes an `emit` function; so does this module: `createRecorder` buffers
// rrweb events and hands chunks `{sid, pvid, seq, events}` to `send(chunk) -> Promise<ack>`,
// never knowing the transport. `bootRecorder()` wires it to the tracker's /track socket
// (event "replay", acknowledged). Privacy: every input is masked, `[data-private]` text is
// masked and its media blocked; it runs only while the tracker runs (DNT, GPC and consent
// decide both). No exception escapes into the page.

import { scrubEvent } from "./url_scrub.js";

export const FLUSH_INTERVAL_MS = 2000;
export const FLUSH_AT_EVENTS = 200;
export const DEFAULT_MAX_BYTES = 512 * 1024;
export const MAX_QUEUED_CHUNKS = 30;
export const ACK_TIMEOUT_MS = 8000;
export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 30000;
export const RRWEB_SCRIPT = "/vendor/rrweb.min.js";
export const PRIVATE_SELECTOR = "[data-private]";
export const BLOCK_SELECTOR = ["img", "video", "audio", "picture", "canvas", "svg", "iframe"]
  .flatMap((tag) => [`${tag}[data-private]`, `[data-private] ${tag}`])
  .join(", ");
// Acks after which the same chunk is sent again; any other error code drops it.
const RETRYABLE = new Set(["unavailable", "rate_limited", "timeout", "offline"]);
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
 * Record with `record` (rrweb's) and send chunks through `send`. Options: `sid`, `pvid`,
 * `window` (timers), `isActive()` (false stops and discards: the shopper opted out),
 * `config` {flushIntervalMs, flushAtEvents, maxBytes, maxQueued}.
 */
export function createRecorder(options) {
  const win = options.window;
  const config = {
    flushIntervalMs: FLUSH_INTERVAL_MS,
    flushAtEvents: FLUSH_AT_EVENTS,
    maxBytes: DEFAULT_MAX_BYTES,
    maxQueued: MAX_QUEUED_CHUNKS,
    ...options.config,
  };
  const isActive = typeof options.isActive === "function" ? options.isActive : () => true;
  const stats = { running: false, events: 0, chunks: 0, acked: 0, retried: 0, rejected: 0, rejectedBy: {}, oversized: 0, overflow: 0, errors: 0, lastError: null };
  let buffer = [];
  let queue = [];
  let seq = 0;
  let stopRecording = null;
  let flushTimer = null;
  let retryTimer = null;
  let retryAttempt = 0;
  let inFlight = false;

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
      queue.push({ sid: options.sid, pvid: options.pvid, seq, events });
      seq += 1;
      stats.chunks += 1;
    }
    while (queue.length > config.maxQueued) {
      queue.shift(); // oldest first: the replay shows a gap rather than the page freezing
      stats.overflow += 1;
    }
    pump();
    return chunks.length;
  }

  function settle(chunk, ack) {
    inFlight = false;
    if (ack && ack.ok) {
      stats.acked += 1;
      retryAttempt = 0;
      queue = queue.filter((queued) => queued !== chunk);
      pump();
      return;
    }
    const code = (ack && ack.error) || "timeout";
    if (RETRYABLE.has(code)) {
      stats.retried += 1;
      const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** retryAttempt);
      retryAttempt += 1;
      retryTimer = win.setTimeout(guarded(() => {
        retryTimer = null;
        pump();
      }), delay);
      return;
    }
    stats.rejected += 1;
    stats.rejectedBy[code] = (stats.rejectedBy[code] || 0) + 1;
    queue = queue.filter((queued) => queued !== chunk);
    pump();
  }

  function pump() {
    if (inFlight || retryTimer !== null || !queue.length) return;
    const chunk = queue[0];
    inFlight = true;
    let answer;
    try {
      answer = Promise.resolve(options.send(chunk));
    } catch (error) {
      fail(error);
      answer = Promise.resolve({ ok: false, error: "offline" });
    }
    answer.then(guarded((ack) => settle(chunk, ack)), guarded(() => settle(chunk, { ok: false, error: "offline" })));
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
      buffer = [];
      queue = [];
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
    get queued() {
      return queue.length;
    },
  };
}

function metaOf(doc, name) {
  const meta = doc && typeof doc.querySelector === "function" ? doc.querySelector(`meta[name="${name}"]`) : null;
  return meta || null;
}

/** Send one chunk over the tracker's /track socket; resolves to the server's ack. */
export function socketSender(transport) {
  return (chunk) =>
    new Promise((resolve) => {
      if (!transport) return resolve({ ok: false, error: "offline" });
      if (!transport.socket) transport.connect(); // the tracker opens it lazily
      const socket = transport.socket;
      if (!socket || !socket.connected) return resolve({ ok: false, error: "offline" });
      socket.timeout(ACK_TIMEOUT_MS).emit("replay", chunk, (error, ack) => resolve(error ? { ok: false, error: "timeout" } : ack));
      return undefined;
    });
}

/** Load a classic script once (the vendor builds are UMD); resolves when it ran. */
export function loadScript(doc, src) {
  return new Promise((resolve, reject) => {
    const script = doc.createElement("script");
    script.src = src;
    script.async = true;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`could not load ${src}`));
    doc.head.appendChild(script);
  });
}

/**
 * Browser composition root: `import { bootRecorder } from "./recorder.js"; bootRecorder();`
 * after the tracker's boot(). Exposes `window.vitrineRecorder` ({stats, start(), stop()}):
 * the consent banner calls `start()` after `vitrineTracker.start()`.
 */
export async function bootRecorder(options = {}) {
  const win = options.window ?? (typeof window === "undefined" ? undefined : window);
  const state = { reason: "not_started", recorder: null, error: null };
  if (!win || !win.document) return state;
  const doc = win.document;

  async function begin() {
    try {
      const meta = metaOf(doc, "vitrine-replay");
      const rate = meta ? Number(meta.getAttribute("content")) : 0;
      const maxBytes = (meta && Number(meta.getAttribute("data-max-bytes"))) || DEFAULT_MAX_BYTES;
      const sidMeta = metaOf(doc, "vitrine-sid");
      const sid = sidMeta ? sidMeta.getAttribute("content") : "";
      const tracker = win.vitrineTracker;
      if (!tracker || !tracker.running) {
        state.reason = "tracker_off";
        return false;
      }
      if (!sid || !sampled(sid, rate)) {
        state.reason = "not_sampled";
        return false;
      }
      if (!state.recorder) {
        const record = options.record ?? (await loadRrweb(win));
        state.recorder = createRecorder({
          record,
          send: options.send ?? socketSender(tracker.transport),
          sid,
          pvid: tracker.pvid,
          window: win,
          isActive: () => Boolean(win.vitrineTracker && win.vitrineTracker.running),
          config: { maxBytes },
        });
        win.vitrineRecorder.stats = state.recorder.stats;
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

  win.vitrineRecorder = {
    state,
    stats: null,
    start: begin,
    stop: (stopOptions) => (state.recorder ? state.recorder.stop(stopOptions) : undefined),
  };
  await begin();
  return state;
}

async function loadRrweb(win) {
  if (!win.rrweb) await loadScript(win.document, RRWEB_SCRIPT);
  if (!win.rrweb || typeof win.rrweb.record !== "function") throw new Error("rrweb missing");
  return win.rrweb.record;
}
