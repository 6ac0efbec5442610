// Transport: delivers tracker batches to the server and relays what the server pushes back.
//
// Batches go over Socket.IO (namespace /track, acknowledged). Each batch is
// written to sessionStorage BEFORE it is sent and removed only when the server
// acknowledges it, so batches survive a dropped connection and a reload. The
// page's last batches leave through navigator.sendBeacon (POST
// /record-session-data). The server deduplicates by (pvid, seq), so sending a
// batch twice is harmless; we still avoid it where that is easy.
//
// Socket.IO's `io` is injected (or loaded lazily through `loadIo`), so this
// module imports nothing browser-only and runs under node's test runner.

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
const MAX_IO_LOAD_FAILURES = 3;
const PERSONA_RE = /^[a-z_]{1,40}$/;

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
 * null), `beacon(url, blob)` (navigator.sendBeacon bound to navigator),
 * `document` (for the persona/adapt DOM events); timers, `random`,
 * `isOnline`, `Blob`, `CustomEvent` and `limits` are injectable for tests.
 */
export function createTransport(options = {}) {
  const url = options.url ?? "/track";
  const storage = options.storage ?? null;
  const beacon = typeof options.beacon === "function" ? options.beacon : null;
  const beaconUrl = options.beaconUrl ?? BEACON_URL;
  const loadIo = typeof options.loadIo === "function" ? options.loadIo : null;
  const doc = options.document ?? globalThis.document ?? null;
  const setTimer = options.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const clearTimer = options.clearTimeout ?? ((id) => globalThis.clearTimeout(id));
  const random = options.random ?? Math.random;
  const isOnline = options.isOnline ?? (() => globalThis.navigator?.onLine !== false);
  const BlobCtor = options.Blob ?? globalThis.Blob;
  const EventCtor = options.CustomEvent ?? globalThis.CustomEvent;
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
    retried: 0, // retryable failures: unavailable, rate_limited, ack timeout
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
  };

  let io = typeof options.io === "function" ? options.io : null;
  let entries = []; // {id, batch, size, beacon, removed}, oldest first
  const inflight = new Map(); // entry id -> emit token; a stale token means "superseded"
  let socket = null;
  let loading = false;
  let loadFailures = 0;
  let retryTimer = null;
  let retryAttempt = 0;
  let tokens = 0;
  let everConnected = false;
  let closed = false;

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
    return { id: idOf(batch), batch, size: JSON.stringify(batch).length, beacon: false, removed: false };
  }

  function persist() {
    stats.pending = entries.length;
    if (!storage) return;
    const write = () => {
      if (entries.length === 0) {
        storage.removeItem(PENDING_KEY);
        return;
      }
      const list = entries.map((entry) => (entry.beacon ? { batch: entry.batch, beacon: true } : { batch: entry.batch }));
      storage.setItem(PENDING_KEY, JSON.stringify(list));
    };
    try {
      write();
    } catch {
      // Quota exceeded (or storage disabled): keep the newer half and try once more.
      stats.storageErrors += 1;
      const drop = Math.ceil(entries.length / 2);
      for (const entry of entries.slice(0, drop)) entry.removed = true;
      stats.overflow += drop;
      entries = entries.slice(drop);
      stats.pending = entries.length;
      try {
        write();
      } catch {
        stats.storageErrors += 1;
      }
    }
  }

  function enforceBounds() {
    let total = entries.reduce((sum, entry) => sum + entry.size, 0);
    while (entries.length > limits.maxBatches || (total > limits.maxChars && entries.length > 1)) {
      const dropped = entries.shift();
      dropped.removed = true;
      inflight.delete(dropped.id);
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
      entries.push(entry);
      stats.restored += 1;
    }
    enforceBounds();
    persist();
  }

  function remove(entry) {
    entry.removed = true;
    inflight.delete(entry.id);
    entries = entries.filter((other) => other !== entry);
    persist();
  }

  function dispatch(type, detail) {
    if (!doc || typeof doc.dispatchEvent !== "function" || typeof EventCtor !== "function") return;
    doc.dispatchEvent(new EventCtor(type, { detail }));
  }

  function onPersona(data) {
    const detail = typeof data === "string" ? { persona: data } : data && typeof data === "object" ? data : null;
    if (!detail) return;
    const body = doc && doc.body;
    if (body && body.dataset && typeof detail.persona === "string" && PERSONA_RE.test(detail.persona)) {
      body.dataset.persona = detail.persona;
    }
    dispatch("vitrine:persona", detail);
  }

  function onAdapt(data) {
    dispatch("vitrine:adapt", data === undefined ? null : data);
  }

  function onConnect() {
    stats.connects += 1;
    everConnected = true;
    inflight.clear(); // acks of emits made before the reconnect will not come
    if (retryTimer !== null) {
      clearTimer(retryTimer);
      retryTimer = null;
    }
    pump();
  }

  function onDisconnect() {
    inflight.clear();
  }

  function openSocket(ioFn) {
    if (socket || closed) return;
    socket = ioFn(url, { transports: ["websocket"], withCredentials: true });
    socket.on("connect", guarded(onConnect));
    socket.on("disconnect", guarded(onDisconnect));
    socket.on("persona", guarded(onPersona));
    socket.on("adapt", guarded(onAdapt));
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

  function scheduleRetry() {
    if (retryTimer !== null) return;
    retryAttempt += 1;
    const base = limits.retryBaseMs * 2 ** Math.min(retryAttempt - 1, 20);
    const jittered = base * (0.75 + 0.5 * random()); // spreads clients after an outage
    const delay = Math.round(Math.min(limits.retryMaxMs, jittered));
    retryTimer = setTimer(
      guarded(() => {
        retryTimer = null;
        pump();
      }),
      delay,
    );
  }

  function onAck(entry, token, err, ack) {
    const current = inflight.get(entry.id) === token;
    if (current) inflight.delete(entry.id);
    if (!err && ack && typeof ack === "object" && ack.ok === true) {
      if (!entry.removed) {
        stats.acked += 1;
        remove(entry);
      }
      retryAttempt = 0;
      pump();
      return;
    }
    if (!current || entry.removed) return; // superseded by a resend after reconnect
    const code = err
      ? "timeout"
      : ack && typeof ack === "object" && typeof ack.error === "string"
        ? ack.error
        : "invalid_ack";
    if (err || RETRYABLE_ERRORS.includes(code)) {
      stats.retried += 1;
      if (!err && entry.beacon) {
        // The server is refusing batches; the beacon copy most likely failed too.
        entry.beacon = false;
        persist();
      }
      scheduleRetry();
      return;
    }
    stats.rejected += 1;
    stats.rejectedBy[code] = (stats.rejectedBy[code] || 0) + 1;
    remove(entry);
    pump();
  }

  function emitEntry(entry) {
    tokens += 1;
    const token = tokens;
    inflight.set(entry.id, token);
    stats.sent += 1;
    socket
      .timeout(limits.ackTimeoutMs)
      .emit("batch", entry.batch, guarded((err, ack) => onAck(entry, token, err, ack)));
  }

  /** Emit pending batches that are not in flight, oldest first, unless backing off. */
  function pump() {
    if (!socket || !socket.connected || retryTimer !== null || closed) return;
    for (const entry of entries) {
      if (inflight.size >= limits.maxInFlight) break;
      if (entry.removed || entry.beacon || inflight.has(entry.id)) continue;
      emitEntry(entry);
    }
  }

  /** Hand unsent batches (newest first) to sendBeacon; returns how many it accepted. */
  function beaconTail() {
    if (!beacon || typeof BlobCtor !== "function") return 0;
    // With the network (or our socket) down the beacon is likely lost: keep such
    // batches unmarked so the next connection or page load resends them.
    const socketLost = everConnected && !(socket && socket.connected);
    const markDelivered = isOnline() && !socketLost;
    let budget = limits.beaconBudget;
    let accepted = 0;
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const entry = entries[i];
      if (entry.beacon) continue;
      if (entry.size > budget) break;
      let ok = false;
      try {
        const blob = new BlobCtor([JSON.stringify(entry.batch)], { type: "application/json" });
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
    if (!entries.some((entry) => entry.id === id)) {
      entries.push(makeEntry(batch));
      enforceBounds();
    }
    persist();
    if (sendOptions && sendOptions.unload) {
      beaconTail();
      pump(); // whatever the beacon refused still gets a chance on the socket
      return true;
    }
    connect();
    pump();
    return true;
  }

  function close() {
    closed = true;
    if (retryTimer !== null) clearTimer(retryTimer);
    retryTimer = null;
    if (socket && typeof socket.disconnect === "function") socket.disconnect();
  }

  guarded(restore)();

  return {
    send: guarded(send),
    connect: guarded(connect),
    flush: guarded(pump),
    beaconTail: guarded(beaconTail),
    close: guarded(close),
    stats,
    get pending() {
      return entries.map((entry) => entry.batch);
    },
    get socket() {
      return socket;
    },
  };
}
