// Transport: delivers tracker batches and other acknowledged requests to the server, and
// hands what the server pushes back to whoever subscribed with `on()`.
//
// Batches go over Socket.IO (namespace /track, acknowledged). Each batch is
// written to sessionStorage BEFORE it is sent and removed only when the server
// acknowledges it, so batches survive a dropped connection and a reload. The
// page's last batches leave through navigator.sendBeacon (POST
// /record-session-data). The server deduplicates by (pvid, seq), so sending a
// batch twice is harmless; we still avoid it where that is easy.
//
// `request(event, payload)` sends anything else that wants an ack (the recorder's replay
// chunks) through the same machinery, in memory only: one lane per event name, each with its
// own queue, in-flight limit and backoff, so a refused replay never holds batches back.
//
// Socket.IO's `io` is injected (or loaded lazily through `loadIo`), so this
// module imports nothing browser-only and runs under node's test runner. It never
// touches the DOM: server pushes ("persona", "adapt") go to the handlers given to `on()`.

import { RETRYABLE_ERRORS } from "./schema.js";

export const PENDING_KEY = "vitrine:pending";
export const MAX_PENDING_BATCHES = 200;
export const MAX_PENDING_CHARS = 1000000;
export const ACK_TIMEOUT_MS = 5000;
export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 30000;
export const MAX_IN_FLIGHT = 4;
export const BEACON_URL = "/record-session-data";
// Browsers refuse keepalive bodies beyond ~64 KiB in flight; stay under it.
export const BEACON_BUDGET_CHARS = 60000;
export const MAX_QUEUED_REQUESTS = 30; // per request lane, unless the caller says otherwise
export const REQUEST_IN_FLIGHT = 1; // a lane's requests go one at a time, in order
const MAX_IO_LOAD_FAILURES = 3;

function isBatchLike(batch) {
  return (
    batch !== null &&
    typeof batch === "object" &&
    typeof batch.pvid === "string" &&
    Number.isInteger(batch.seq) &&
    Array.isArray(batch.events)
  );
}

function idOf(batch) {
  return `${batch.pvid}:${batch.seq}`;
}

/**
 * Create a transport. Options: `io` (socket.io-client's io function) or
 * `loadIo` (async, returns it), `url` ("/track"), `storage` (sessionStorage or
 * null), `beacon(url, blob)` (navigator.sendBeacon bound to navigator); timers,
 * `random`, `isOnline`, `Blob` and `limits` are injectable for tests.
 */
export function createTransport(options = {}) {
  const url = options.url ?? "/track";
  const storage = options.storage ?? null;
  const beacon = typeof options.beacon === "function" ? options.beacon : null;
  const beaconUrl = options.beaconUrl ?? BEACON_URL;
  const loadIo = typeof options.loadIo === "function" ? options.loadIo : null;
  const setTimer = options.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const clearTimer = options.clearTimeout ?? ((id) => globalThis.clearTimeout(id));
  const random = options.random ?? Math.random;
  const isOnline = options.isOnline ?? (() => globalThis.navigator?.onLine !== false);
  const BlobCtor = options.Blob ?? globalThis.Blob;
  const limits = {
    maxBatches: MAX_PENDING_BATCHES,
    maxChars: MAX_PENDING_CHARS,
    maxInFlight: MAX_IN_FLIGHT,
    ackTimeoutMs: ACK_TIMEOUT_MS,
    retryBaseMs: RETRY_BASE_MS,
    retryMaxMs: RETRY_MAX_MS,
    beaconBudget: BEACON_BUDGET_CHARS,
    ...options.limits,
  };

  const stats = {
    pending: 0, // batches kept until acknowledged
    sent: 0, // socket emits (retries included)
    acked: 0,
    retried: 0, // retryable failures: unavailable, rate_limited, busy, ack timeout
    rejected: 0, // dropped on a non-retryable error code
    rejectedBy: {},
    overflow: 0, // dropped because the pending store was full
    restored: 0, // picked up from a previous page load
    beaconed: 0,
    beaconFailed: 0,
    connects: 0,
    errors: 0,
    storageErrors: 0,
    lastError: null,
    requests: {}, // per request event: the same counters as above for its lane
  };

  let io = typeof options.io === "function" ? options.io : null;
  // Sent with every (re)connection: socket.io-client calls a function each time.
  const auth = typeof options.auth === "function" || (options.auth && typeof options.auth === "object") ? options.auth : null;
  let socket = null;
  let loading = false;
  let loadFailures = 0;
  let tokens = 0;
  let everConnected = false;
  let closed = false;
  const pushHandlers = new Map(); // server push event -> handlers given to on()

  // A lane: entries emitted as `event`, oldest first, at most `maxInFlight` awaiting their
  // ack, all paused together by one backoff timer. `finish(entry, ack)` ends an entry
  // (acknowledged or refused for good); `onRetry(entry, err)` runs before a backoff.
  function createLane(event, laneStats, settings) {
    return {
      event,
      stats: laneStats,
      entries: [], // batches: {id, payload, size, beacon, removed}; requests: {payload, timeoutMs, removed, resolve}
      inflight: new Map(), // entry -> emit token; a stale token means "superseded"
      retryTimer: null,
      retryAttempt: 0,
      ...settings,
    };
  }

  const batches = createLane("batch", stats, {
    maxInFlight: limits.maxInFlight,
    finish: (entry) => remove(entry),
    onRetry(entry, err) {
      if (!err && entry.beacon) {
        // The server is refusing batches; the beacon copy most likely failed too.
        entry.beacon = false;
        persist();
      }
    },
  });
  const requestLanes = new Map(); // event -> lane

  function lanes() {
    return [batches, ...requestLanes.values()];
  }

  function guarded(fn) {
    return (...args) => {
      try {
        return fn(...args);
      } catch (error) {
        stats.errors += 1;
        stats.lastError = String((error && error.message) || error).slice(0, 200);
        return undefined;
      }
    };
  }

  function makeEntry(batch) {
    return { id: idOf(batch), payload: batch, size: JSON.stringify(batch).length, beacon: false, removed: false };
  }

  function persist() {
    stats.pending = batches.entries.length;
    if (!storage) return;
    const write = () => {
      if (batches.entries.length === 0) {
        storage.removeItem(PENDING_KEY);
        return;
      }
      const list = batches.entries.map((entry) => (entry.beacon ? { batch: entry.payload, beacon: true } : { batch: entry.payload }));
      storage.setItem(PENDING_KEY, JSON.stringify(list));
    };
    try {
      write();
    } catch {
      // Quota exceeded (or storage disabled): keep the newer half and try once more.
      stats.storageErrors += 1;
      const drop = Math.ceil(batches.entries.length / 2);
      for (const entry of batches.entries.slice(0, drop)) entry.removed = true;
      stats.overflow += drop;
      batches.entries = batches.entries.slice(drop);
      stats.pending = batches.entries.length;
      try {
        write();
      } catch {
        stats.storageErrors += 1;
      }
    }
  }

  function enforceBounds() {
    let total = batches.entries.reduce((sum, entry) => sum + entry.size, 0);
    while (batches.entries.length > limits.maxBatches || (total > limits.maxChars && batches.entries.length > 1)) {
      const dropped = batches.entries.shift();
      dropped.removed = true;
      batches.inflight.delete(dropped);
      total -= dropped.size;
      stats.overflow += 1;
    }
  }

  function restore() {
    if (!storage) return;
    let list = null;
    try {
      list = JSON.parse(storage.getItem(PENDING_KEY) || "null");
    } catch {
      stats.storageErrors += 1;
    }
    if (!Array.isArray(list)) return;
    const seen = new Set();
    for (const item of list) {
      if (!item || typeof item !== "object" || !isBatchLike(item.batch)) continue;
      // Handed to sendBeacon while online by the previous page: treated as delivered.
      if (item.beacon === true) continue;
      const entry = makeEntry(item.batch);
      if (seen.has(entry.id)) continue;
      seen.add(entry.id);
      batches.entries.push(entry);
      stats.restored += 1;
    }
    enforceBounds();
    persist();
  }

  function remove(entry) {
    entry.removed = true;
    batches.inflight.delete(entry);
    batches.entries = batches.entries.filter((other) => other !== entry);
    persist();
  }

  function deliver(event, data) {
    for (const handler of pushHandlers.get(event) ?? []) guarded(handler)(data);
  }

  function listen(event) {
    socket.on(event, guarded((data) => deliver(event, data)));
  }

  function onConnect() {
    stats.connects += 1;
    everConnected = true;
    for (const lane of lanes()) {
      lane.inflight.clear(); // acks of emits made before the reconnect will not come
      if (lane.retryTimer !== null) {
        clearTimer(lane.retryTimer);
        lane.retryTimer = null;
      }
    }
    pumpAll();
  }

  function onDisconnect() {
    for (const lane of lanes()) lane.inflight.clear();
  }

  function openSocket(ioFn) {
    if (socket || closed) return;
    const socketOptions = { transports: ["websocket"], withCredentials: true };
    if (auth) socketOptions.auth = auth;
    socket = ioFn(url, socketOptions);
    socket.on("connect", guarded(onConnect));
    socket.on("disconnect", guarded(onDisconnect));
    for (const event of pushHandlers.keys()) listen(event);
    if (socket.connected) onConnect();
  }

  function connect() {
    if (socket || closed) return;
    if (io) {
      openSocket(io);
      return;
    }
    if (!loadIo || loading || loadFailures >= MAX_IO_LOAD_FAILURES) return;
    loading = true;
    Promise.resolve()
      .then(loadIo)
      .then(
        guarded((ioFn) => {
          loading = false;
          if (typeof ioFn !== "function") throw new Error("loadIo did not return io");
          io = ioFn;
          openSocket(io);
        }),
        guarded((error) => {
          loading = false;
          loadFailures += 1;
          throw error;
        }),
      );
  }

  function scheduleRetry(lane) {
    if (lane.retryTimer !== null) return;
    lane.retryAttempt += 1;
    const base = limits.retryBaseMs * 2 ** Math.min(lane.retryAttempt - 1, 20);
    const jittered = base * (0.75 + 0.5 * random()); // spreads clients after an outage
    const delay = Math.round(Math.min(limits.retryMaxMs, jittered));
    lane.retryTimer = setTimer(
      guarded(() => {
        lane.retryTimer = null;
        pump(lane);
      }),
      delay,
    );
  }

  function onAck(lane, entry, token, err, ack) {
    const current = lane.inflight.get(entry) === token;
    if (current) lane.inflight.delete(entry);
    if (!err && ack && typeof ack === "object" && ack.ok === true) {
      if (!entry.removed) {
        lane.stats.acked += 1;
        lane.finish(entry, ack);
      }
      lane.retryAttempt = 0;
      pump(lane);
      return;
    }
    if (!current || entry.removed) return; // superseded by a resend after reconnect
    const code = err
      ? "timeout"
      : ack && typeof ack === "object" && typeof ack.error === "string"
        ? ack.error
        : "invalid_ack";
    if (err || RETRYABLE_ERRORS.includes(code)) {
      lane.stats.retried += 1;
      if (lane.onRetry) lane.onRetry(entry, err);
      scheduleRetry(lane);
      return;
    }
    lane.stats.rejected += 1;
    lane.stats.rejectedBy[code] = (lane.stats.rejectedBy[code] || 0) + 1;
    lane.finish(entry, { ok: false, error: code });
    pump(lane);
  }

  function emitEntry(lane, entry) {
    tokens += 1;
    const token = tokens;
    lane.inflight.set(entry, token);
    lane.stats.sent += 1;
    socket
      .timeout(entry.timeoutMs ?? limits.ackTimeoutMs)
      .emit(lane.event, entry.payload, guarded((err, ack) => onAck(lane, entry, token, err, ack)));
  }

  /** Emit a lane's entries that are not in flight, oldest first, unless it is backing off. */
  function pump(lane) {
    if (!socket || !socket.connected || lane.retryTimer !== null || closed) return;
    for (const entry of lane.entries) {
      if (lane.inflight.size >= lane.maxInFlight) break;
      if (entry.removed || entry.beacon || lane.inflight.has(entry)) continue;
      emitEntry(lane, entry);
    }
  }

  function pumpAll() {
    for (const lane of lanes()) pump(lane);
  }

  /** Hand unsent batches (newest first) to sendBeacon; returns how many it accepted. */
  function beaconTail() {
    if (!beacon || typeof BlobCtor !== "function") return 0;
    // With the network (or our socket) down the beacon is likely lost: keep such
    // batches unmarked so the next connection or page load resends them.
    const socketLost = everConnected && !(socket && socket.connected);
    const markDelivered = isOnline() && !socketLost;
    const { entries } = batches;
    let budget = limits.beaconBudget;
    let accepted = 0;
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const entry = entries[i];
      if (entry.beacon) continue;
      if (entry.size > budget) break;
      let ok = false;
      try {
        const blob = new BlobCtor([JSON.stringify(entry.payload)], { type: "application/json" });
        ok = beacon(beaconUrl, blob) === true;
      } catch (error) {
        stats.errors += 1;
        stats.lastError = String((error && error.message) || error).slice(0, 200);
      }
      if (!ok) {
        stats.beaconFailed += 1;
        break;
      }
      budget -= entry.size;
      accepted += 1;
      stats.beaconed += 1;
      if (markDelivered) entry.beacon = true;
    }
    persist();
    return accepted;
  }

  /**
   * Queue `batch` for delivery (the tracker's `emit`). It is persisted first;
   * with `{unload: true}` it and the other unsent batches leave by sendBeacon.
   */
  function send(batch, sendOptions) {
    if (!isBatchLike(batch)) {
      stats.rejected += 1;
      stats.rejectedBy.invalid_batch = (stats.rejectedBy.invalid_batch || 0) + 1;
      return false;
    }
    const id = idOf(batch);
    if (!batches.entries.some((entry) => entry.id === id)) {
      batches.entries.push(makeEntry(batch));
      enforceBounds();
    }
    persist();
    if (sendOptions && sendOptions.unload) {
      beaconTail();
      pump(batches); // whatever the beacon refused still gets a chance on the socket
      return true;
    }
    connect();
    pump(batches);
    return true;
  }

  function requestLane(event) {
    let lane = requestLanes.get(event);
    if (!lane) {
      const laneStats = { sent: 0, acked: 0, retried: 0, rejected: 0, rejectedBy: {}, overflow: 0 };
      stats.requests[event] = laneStats;
      lane = createLane(event, laneStats, {
        maxInFlight: REQUEST_IN_FLIGHT,
        maxQueued: MAX_QUEUED_REQUESTS,
        finish(entry, ack) {
          entry.removed = true;
          lane.inflight.delete(entry);
          lane.entries = lane.entries.filter((other) => other !== entry);
          entry.resolve(ack);
        },
      });
      requestLanes.set(event, lane);
    }
    return lane;
  }

  function settleAll(lane, error) {
    for (const entry of lane.entries) {
      entry.removed = true;
      entry.resolve({ ok: false, error });
    }
    lane.entries = [];
    lane.inflight.clear();
    if (lane.retryTimer !== null) clearTimer(lane.retryTimer);
    lane.retryTimer = null;
  }

  /**
   * Emit `payload` as `event` and resolve with the server's final ack: retried with backoff on
   * an ack timeout or a retryable code (kept in memory while the socket is down), so the
   * answer is `{ok: true, …}` or `{ok: false, error}` with a code that will not change by
   * retrying, `overflow` (pushed out of a full queue), `discarded` or `closed`. Options:
   * `timeoutMs` (ack timeout), `maxQueued` (the lane's bound, oldest waiting dropped first).
   * Never rejects.
   */
  function request(event, payload, requestOptions = {}) {
    return new Promise((resolve) => {
      if (closed || typeof event !== "string") {
        resolve({ ok: false, error: closed ? "closed" : "invalid_request" });
        return;
      }
      const lane = requestLane(event);
      const { maxQueued, timeoutMs } = requestOptions || {};
      if (Number.isInteger(maxQueued) && maxQueued > 0) lane.maxQueued = maxQueued;
      const entry = { payload, timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : limits.ackTimeoutMs, removed: false, resolve };
      lane.entries.push(entry);
      while (lane.entries.length > lane.maxQueued) {
        // The oldest entry still waiting goes (one in flight keeps its ack).
        const dropped = lane.entries.find((queued) => !lane.inflight.has(queued));
        if (!dropped) break;
        lane.stats.overflow += 1;
        lane.finish(dropped, { ok: false, error: "overflow" });
      }
      try {
        connect();
        pump(lane);
      } catch (error) {
        // Left in the lane: the next connect or backoff sends it again.
        stats.errors += 1;
        stats.lastError = String((error && error.message) || error).slice(0, 200);
      }
    });
  }

  /** Deliver every `event` the server pushes to `handler(data)` (errors in it are counted). */
  function on(event, handler) {
    if (typeof event !== "string" || typeof handler !== "function") return;
    const known = pushHandlers.has(event);
    if (!known) pushHandlers.set(event, []);
    pushHandlers.get(event).push(handler);
    if (socket && !known) listen(event);
  }

  /**
   * Forget everything not yet delivered (the kept batches, in storage too, and waiting
   * requests, answered `discarded`) and disconnect: the shopper declined analytics.
   */
  function discard() {
    for (const entry of batches.entries) entry.removed = true;
    batches.entries = [];
    batches.inflight.clear();
    if (batches.retryTimer !== null) clearTimer(batches.retryTimer);
    batches.retryTimer = null;
    persist();
    for (const lane of requestLanes.values()) settleAll(lane, "discarded");
    if (socket && typeof socket.disconnect === "function") socket.disconnect();
  }

  function close() {
    closed = true;
    for (const lane of lanes()) {
      if (lane.retryTimer !== null) clearTimer(lane.retryTimer);
      lane.retryTimer = null;
    }
    for (const lane of requestLanes.values()) settleAll(lane, "closed");
    if (socket && typeof socket.disconnect === "function") socket.disconnect();
  }

  guarded(restore)();

  return {
    send: guarded(send),
    request,
    on: guarded(on),
    connect: guarded(connect),
    flush: guarded(pumpAll),
    beaconTail: guarded(beaconTail),
    discard: guarded(discard),
    close: guarded(close),
    stats,
    get pending() {
      return batches.entries.map((entry) => entry.payload);
    },
    /** True while the socket is connected. */
    get connected() {
      return Boolean(socket && socket.connected);
    },
    /** True once a socket was opened (pages where tracking is off never open one). */
    get opened() {
      return socket !== null;
    },
  };
}
