// Tracker: records shopper behaviour as schema-v1 events (docs/events.md) and hands
// batches to an `emit(batch, {unload})` function. It never knows the transport,
// never reads input values or text content, and no exception escapes it into
// the host page: every listener and timer is wrapped and failures are counted.

import {
  FILTERS,
  MAX_BATCH_BYTES,
  MAX_COORDINATE,
  MAX_EVENTS_PER_BATCH,
  MAX_OFFSET_MS,
  MAX_HOVER_MS,
  MAX_PATH_LENGTH,
  MAX_QUANTITY,
  MAX_SEARCH_LENGTH,
  MAX_SEQ,
  MAX_TITLE_LENGTH,
  MAX_VIEWPORT,
  MIN_HOVER_MS,
  MOBILE_MAX_WIDTH,
  POINTER_TYPES,
  SCHEMA_VERSION,
  SORTS,
  TABLET_MAX_WIDTH,
  isAction,
  isCategory,
  isPath,
  isProductId,
  isToken,
  jsonBytes,
  validateEvent,
} from "./schema.js";
import { closestAttribute, findAnchor, hoverTarget, relativePosition, selectorFor } from "./anchors.js";
import { metaContent } from "./dom.js";

export const MOVE_INTERVAL_MS = 50; // ≤ 20 Hz
export const SCROLL_INTERVAL_MS = 200; // ≤ 5 Hz
export const FLUSH_INTERVAL_MS = 1000;
export const FLUSH_AT_EVENTS = 50;
export const PVID_LENGTH = 22;
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// Pointers whose path and resting place mean something: a finger dragging the page is
// not a pointer path, and a finger never rests over an element without touching it.
export const PATH_POINTER_TYPES = ["mouse", "pen"];

const trackers = new WeakMap(); // public api -> internal begin(explicit)
const byWindow = new WeakMap(); // window -> its tracker: one per page, never two

/**
 * Decide whether tracking may run: Do-Not-Track and Global Privacy Control
 * always win; then the `vitrine-consent` meta tag must say "granted" (a
 * missing tag counts as granted until the consent banner ships).
 */
export function privacyDecision(win, doc) {
  const nav = (win && win.navigator) || {};
  if (nav.doNotTrack === "1") return { allowed: false, reason: "dnt" };
  if (nav.globalPrivacyControl === true) return { allowed: false, reason: "gpc" };
  const consent = metaContent("vitrine-consent", doc);
  if (consent === null || consent.trim() === "granted") return { allowed: true, reason: null };
  return { allowed: false, reason: consent.trim() === "denied" ? "consent_denied" : "consent_ask" };
}

/** Return a random id of `length` characters from [A-Za-z0-9_-]. */
export function randomId(win, length = PVID_LENGTH) {
  const bytes = new Uint8Array(length);
  const crypto = (win && win.crypto) || globalThis.crypto;
  if (crypto && typeof crypto.getRandomValues === "function") {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (byte) => ID_ALPHABET[byte & 63]).join("");
}

export function deviceFor(viewportWidth) {
  if (viewportWidth <= MOBILE_MAX_WIDTH) return "mobile";
  if (viewportWidth <= TABLET_MAX_WIDTH) return "tablet";
  return "desktop";
}

function coord(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return 0;
  return Math.min(MAX_COORDINATE, Math.max(0, Math.round(number)));
}

function clampInt(value, min, max) {
  const number = Number(value);
  return Number.isFinite(number) ? Math.min(max, Math.max(min, Math.round(number))) : min;
}

function fraction(value) {
  if (!Number.isFinite(value)) return 0;
  return Math.min(1, Math.max(0, Math.round(value * 1000) / 1000));
}

// A results page may echo the shopper's search in its title: then the title stays home.
function titleWithoutSearch(title, search) {
  const query = new URLSearchParams(search || "").get("q");
  const needle = query ? query.trim().toLowerCase() : "";
  return needle && title.toLowerCase().includes(needle) ? "" : title;
}

function createTracker(options) {
  const win = options.window;
  const doc = options.document ?? win.document;
  const emit = options.emit;
  const now = typeof options.now === "function" ? options.now : () => Date.now();
  const config = {
    moveIntervalMs: MOVE_INTERVAL_MS,
    scrollIntervalMs: SCROLL_INTERVAL_MS,
    flushIntervalMs: FLUSH_INTERVAL_MS,
    flushAtEvents: FLUSH_AT_EVENTS,
    ...options.config,
  };
  const setTimer = (fn, ms) => win.setTimeout(fn, ms);
  const clearTimer = (id) => win.clearTimeout(id);

  const stats = {
    running: false,
    reason: "not_started", // why it is not running: dnt, gpc, consent_*, no_identity, stopped…
    events: 0, // events accepted into the buffer
    batches: 0, // batches handed to emit
    invalid: 0, // events dropped because they would fail the server's validation
    dropped: 0, // events dropped for other limits (seq exhausted)
    errors: 0, // exceptions caught in listeners and timers
    emitErrors: 0, // exceptions thrown by emit
    lastError: null,
  };

  let running = false;
  let pageSent = false;
  let vid = null;
  let sid = null;
  let pvid = null;
  let t0 = 0;
  let path = "/";
  let seq = 0;
  let buffer = [];
  let flushTimer = null;
  let maxDepth = 0;
  let visibleSince = null;
  let activeMs = 0;
  let hover = null;
  let lastMove = null;
  let lastPointerType = null; // pointerType of the last pointerdown (for clicks that carry none)
  let canHover = true; // false when matchMedia("(hover: hover)") says the device cannot hover

  function noteError(error) {
    stats.errors += 1;
    stats.lastError = String((error && error.message) || error).slice(0, 200);
  }

  function guard(fn) {
    return (...args) => {
      try {
        return fn(...args);
      } catch (error) {
        noteError(error);
        return undefined;
      }
    };
  }

  // Leading-edge sampling with one trailing sample, so the last position is kept.
  function throttle(intervalMs, fire) {
    let last = -Infinity;
    let timer = null;
    let pending = null;
    let hasPending = false;
    const firePending = () => {
      if (!hasPending) return;
      const value = pending;
      hasPending = false;
      pending = null;
      last = now();
      fire(value);
    };
    const onTimer = guard(() => {
      timer = null;
      firePending();
    });
    return {
      push(value) {
        const elapsed = now() - last;
        if (timer === null && elapsed >= intervalMs) {
          last = now();
          fire(value);
          return;
        }
        pending = value;
        hasPending = true;
        if (timer === null) timer = setTimer(onTimer, Math.max(0, intervalMs - elapsed));
      },
      drain() {
        if (timer !== null) clearTimer(timer);
        timer = null;
        firePending();
      },
      cancel() {
        if (timer !== null) clearTimer(timer);
        timer = null;
        hasPending = false;
        pending = null;
      },
    };
  }

  function scrollY() {
    return Number(win.scrollY ?? win.pageYOffset ?? 0) || 0;
  }

  function scrollX() {
    return Number(win.scrollX ?? win.pageXOffset ?? 0) || 0;
  }

  function documentHeight() {
    const root = doc.documentElement;
    const body = doc.body;
    return Math.max(Number(root && root.scrollHeight) || 0, Number(body && body.scrollHeight) || 0);
  }

  function updateDepth() {
    const height = documentHeight();
    const depth = height > 0 ? (scrollY() + (Number(win.innerHeight) || 0)) / height : 1;
    maxDepth = Math.max(maxDepth, fraction(depth));
  }

  function isVisible() {
    return doc.visibilityState !== "hidden";
  }

  function record(kind, fields) {
    if (!running) return;
    const elapsed = Math.max(0, Math.round(now() - t0));
    if (elapsed > MAX_OFFSET_MS) {
      stats.dropped += 1;
      return;
    }
    const event = { k: kind, t: elapsed, ...fields };
    if (validateEvent(event) !== null) {
      stats.invalid += 1;
      return;
    }
    buffer.push(event);
    stats.events += 1;
    if (buffer.length >= config.flushAtEvents) flush();
    else if (flushTimer === null) flushTimer = setTimer(onFlushTimer, config.flushIntervalMs);
  }

  function makeBatch(events) {
    return { v: SCHEMA_VERSION, vid, sid, pvid, seq, t0, path, events };
  }

  // Split into batches the server accepts: ≤ 500 events and ≤ 256 KiB each.
  function chunk(events) {
    const out = [];
    for (let i = 0; i < events.length; i += MAX_EVENTS_PER_BATCH) {
      const part = events.slice(i, i + MAX_EVENTS_PER_BATCH);
      const stack = [part];
      while (stack.length) {
        const piece = stack.pop();
        if (jsonBytes(makeBatch(piece)) <= MAX_BATCH_BYTES) out.push(piece);
        else if (piece.length > 1) {
          const half = Math.ceil(piece.length / 2);
          stack.push(piece.slice(half), piece.slice(0, half));
        } else stats.invalid += 1;
      }
    }
    return out;
  }

  function flush(flushOptions = {}) {
    if (flushTimer !== null) clearTimer(flushTimer);
    flushTimer = null;
    if (buffer.length === 0) return 0;
    const events = buffer;
    buffer = [];
    let sent = 0;
    for (const part of chunk(events)) {
      if (seq > MAX_SEQ) {
        stats.dropped += part.length;
        continue;
      }
      const batch = makeBatch(part);
      seq += 1;
      stats.batches += 1;
      sent += 1;
      try {
        emit(batch, { unload: Boolean(flushOptions.unload) });
      } catch (error) {
        stats.emitErrors += 1;
        stats.lastError = String((error && error.message) || error).slice(0, 200);
      }
    }
    return sent;
  }

  const onFlushTimer = guard(() => {
    flushTimer = null;
    flush();
  });

  const moves = throttle(config.moveIntervalMs, ([x, y]) => {
    if (lastMove && lastMove[0] === x && lastMove[1] === y) return;
    lastMove = [x, y];
    record("move", { x, y });
  });

  const scrolls = throttle(config.scrollIntervalMs, () => {
    updateDepth();
    record("scroll", { y: coord(scrollY()), d: maxDepth });
  });

  function endHover() {
    if (!hover) return;
    const current = hover;
    hover = null;
    const ms = Math.round(now() - current.start);
    if (ms < MIN_HOVER_MS || !current.anchor) return;
    const fields = { a: current.anchor, tag: current.tag, ms: Math.min(ms, MAX_HOVER_MS) };
    if (current.pid) fields.pid = current.pid;
    record("hover", fields);
  }

  function drainSamples() {
    moves.drain();
    scrolls.drain();
    endHover();
  }

  const isPathPointer = (event) => PATH_POINTER_TYPES.includes(event.pointerType);

  function onPointerMove(event) {
    if (!isPathPointer(event)) return; // a finger drag (or an unknown pointer) is no pointer path
    moves.push([coord(event.pageX), coord(event.pageY)]);
  }

  function onPointerDown(event) {
    if (POINTER_TYPES.includes(event.pointerType)) lastPointerType = event.pointerType;
  }

  // The click's own pointerType (Chromium and Firefox clicks are PointerEvents); else the
  // last pointerdown's (browsers whose click is a MouseEvent); none for a keyboard activation.
  function clickPointerType(event, keyboard) {
    if (POINTER_TYPES.includes(event.pointerType)) return event.pointerType;
    return keyboard ? null : lastPointerType;
  }

  function onClick(event) {
    const anchor = findAnchor(event.target);
    if (!anchor) return;
    const rect = anchor.element.getBoundingClientRect ? anchor.element.getBoundingClientRect() : null;
    let { pageX, pageY, clientX, clientY } = event;
    const keyboard = event.detail === 0 && !pageX && !pageY;
    if (keyboard && rect) {
      // Keyboard activation has no pointer position: use the anchor's centre.
      clientX = rect.left + rect.width / 2;
      clientY = rect.top + rect.height / 2;
      pageX = clientX + scrollX();
      pageY = clientY + scrollY();
    }
    const { rx, ry } = relativePosition(rect, Number(clientX), Number(clientY));
    const fields = { x: coord(pageX), y: coord(pageY), a: anchor.selector, rx, ry };
    const act = closestAttribute(event.target, "data-action");
    if (isAction(act)) fields.act = act;
    const pid = closestAttribute(event.target, "data-product-id");
    if (isProductId(pid)) fields.pid = pid;
    const pt = clickPointerType(event, keyboard);
    if (pt) fields.pt = pt;
    record("click", fields);
  }

  function onPointerOver(event) {
    // No hover on a device that cannot hover (the compatibility mouse events after a tap
    // are not lingering), and none from a finger or an unknown pointer anywhere.
    if (!canHover || !isPathPointer(event)) return;
    const target = hoverTarget(event.target);
    if (hover && target && target.element === hover.element) return;
    endHover();
    if (!target) return;
    const pid = closestAttribute(target.element, "data-product-id");
    hover = {
      element: target.element,
      tag: target.tag,
      anchor: selectorFor(target.element),
      pid: isProductId(pid) ? pid : null,
      start: now(),
    };
  }

  function onPointerOut(event) {
    if (!isPathPointer(event)) return; // a lifted finger does not end a mouse hover
    if (!event.relatedTarget) endHover(); // the pointer left the window
  }

  function onScroll() {
    updateDepth();
    scrolls.push(null);
  }

  function onVisibilityChange() {
    const state = isVisible() ? "visible" : "hidden";
    const at = now();
    if (visibleSince !== null) activeMs += Math.max(0, at - visibleSince);
    visibleSince = state === "visible" ? at : null;
    const act_ms = Math.min(MAX_OFFSET_MS, Math.round(activeMs));
    activeMs = 0;
    if (state === "hidden") drainSamples();
    record("vis", { s: state, act_ms });
    if (state === "hidden") flush({ unload: true });
  }

  function onPageHide() {
    drainSamples();
    flush({ unload: true });
  }

  function detailOf(event) {
    const detail = event && event.detail;
    return detail && typeof detail === "object" ? detail : null;
  }

  function onCart(event) {
    const detail = detailOf(event);
    if (!detail) {
      stats.invalid += 1;
      return;
    }
    const fields = { op: detail.op };
    if (isProductId(detail.pid)) fields.pid = detail.pid;
    if (Number.isInteger(detail.q) && detail.q >= 0 && detail.q <= MAX_QUANTITY) fields.q = detail.q;
    record("cart", fields);
  }

  function onCatalog(event) {
    const detail = detailOf(event);
    const kind = detail ? detail.kind : null;
    if (kind === "sort") {
      record("sort", { v: detail.value });
    } else if (kind === "filter") {
      const f = FILTERS.includes(detail.filter) ? detail.filter : detail.value === "on-sale" ? "on-sale" : "category";
      const fields = { f };
      if (f === "category" && isCategory(detail.value)) fields.v = detail.value;
      record("filter", fields);
    } else if (kind === "search") {
      // Only the query's length leaves the page, never its text.
      const n = Number.isInteger(detail.length)
        ? detail.length
        : typeof detail.value === "string"
          ? detail.value.length
          : null;
      if (n === null) stats.invalid += 1;
      else record("search", { n: Math.min(MAX_SEARCH_LENGTH, Math.max(0, n)) });
    } else {
      stats.invalid += 1;
    }
  }

  const listeners = [
    [doc, "pointermove", onPointerMove, { capture: true, passive: true }],
    [doc, "pointerdown", onPointerDown, { capture: true, passive: true }],
    [doc, "click", onClick, { capture: true, passive: true }],
    [doc, "pointerover", onPointerOver, { capture: true, passive: true }],
    [doc, "pointerout", onPointerOut, { capture: true, passive: true }],
    [win, "scroll", onScroll, { passive: true }],
    [doc, "visibilitychange", onVisibilityChange, false],
    [win, "pagehide", onPageHide, false],
    [doc, "vitrine:cart", onCart, false],
    [doc, "vitrine:catalog", onCatalog, false],
  ].map(([target, type, handler, listenerOptions]) => [target, type, guard(handler), listenerOptions]);

  function pagePath() {
    // The server accepts [A-Za-z0-9_./-] only: anything else (percent-escapes…) becomes "_".
    const raw = String((win.location && win.location.pathname) || "/");
    const safe = `/${raw.replace(/^\/+/, "").replace(/[^A-Za-z0-9_./-]/g, "_")}`.slice(0, MAX_PATH_LENGTH);
    return isPath(safe) ? safe : "/";
  }

  function referrerPath() {
    const referrer = doc.referrer;
    if (!referrer || !win.location) return "";
    try {
      const URLCtor = win.URL || URL;
      const parsed = new URLCtor(referrer);
      if (parsed.origin !== win.location.origin) return "";
      return isPath(parsed.pathname) ? parsed.pathname : "";
    } catch {
      return "";
    }
  }

  // 1 / 0 from matchMedia("(hover: hover)"); null when the window has no matchMedia.
  function hoverCapability() {
    if (typeof win.matchMedia !== "function") return null;
    const query = win.matchMedia("(hover: hover)");
    return query && query.matches ? 1 : 0;
  }

  function pageFields() {
    const vw = clampInt(win.innerWidth, 1, MAX_VIEWPORT);
    const vh = clampInt(win.innerHeight, 1, MAX_VIEWPORT);
    const fields = {
      path,
      title: titleWithoutSearch(String(doc.title ?? "").trim(), win.location && win.location.search).slice(0, MAX_TITLE_LENGTH),
      ref: referrerPath(),
      vw,
      vh,
      dh: clampInt(documentHeight(), 1, MAX_COORDINATE),
      dev: deviceFor(vw),
    };
    if (path.startsWith("/product/")) {
      const root = typeof doc.querySelector === "function" ? doc.querySelector("[data-product-id][data-category]") : null;
      const pid = root ? root.getAttribute("data-product-id") : path.slice("/product/".length);
      const cat = root ? root.getAttribute("data-category") : null;
      if (isProductId(pid)) fields.pid = pid;
      if (isCategory(cat)) fields.cat = cat;
    } else if (path === "/catalog") {
      // The listing's state as the page was opened (a Deals link, a shared sorted URL…).
      const query = new URLSearchParams((win.location && win.location.search) || "");
      const cat = query.get("category");
      if (isCategory(cat)) fields.cat = cat;
      const sort = query.get("sort");
      if (SORTS.includes(sort)) fields.sort = sort;
      if (query.get("on_sale") === "1") fields.sale = 1;
    }
    const hov = hoverCapability();
    if (hov !== null) fields.hov = hov;
    return fields;
  }

  function attach() {
    for (const [target, type, handler, listenerOptions] of listeners) {
      if (target && typeof target.addEventListener === "function") target.addEventListener(type, handler, listenerOptions);
    }
  }

  function detach() {
    for (const [target, type, handler, listenerOptions] of listeners) {
      if (target && typeof target.removeEventListener === "function") target.removeEventListener(type, handler, listenerOptions);
    }
  }

  function begin(explicitConsent) {
    if (running) return true;
    const decision = privacyDecision(win, doc);
    const consentOnly = decision.reason === "consent_ask" || decision.reason === "consent_denied";
    if (!decision.allowed && !(explicitConsent && consentOnly)) {
      stats.reason = decision.reason;
      return false;
    }
    if (typeof emit !== "function") {
      stats.reason = "no_emit";
      return false;
    }
    const metaVid = metaContent("vitrine-vid", doc);
    const metaSid = metaContent("vitrine-sid", doc);
    if (!isToken(metaVid) || !isToken(metaSid)) {
      stats.reason = "no_identity";
      return false;
    }
    vid = metaVid;
    sid = metaSid;
    if (pvid === null) {
      pvid = randomId(win, PVID_LENGTH);
      t0 = Math.round(now());
      path = pagePath();
    }
    running = true;
    stats.running = true;
    stats.reason = null;
    visibleSince = isVisible() ? now() : null;
    activeMs = 0;
    updateDepth();
    attach();
    if (!pageSent) {
      pageSent = true;
      const fields = pageFields();
      canHover = fields.hov !== 0;
      record("page", fields);
    }
    return true;
  }

  function stop(stopOptions = {}) {
    if (!running) return false;
    if (stopOptions && stopOptions.discard) {
      moves.cancel();
      scrolls.cancel();
      hover = null;
      buffer = [];
      flush();
    } else {
      drainSamples();
      flush();
    }
    detach();
    running = false;
    stats.running = false;
    stats.reason = "stopped";
    return true;
  }

  const api = {
    stats,
    /** Send buffered events now; returns the number of batches emitted. */
    flush: guard(() => flush()),
    /** Stop recording (buffered events are sent unless `{discard: true}`). */
    stop: guard(stop),
    /** Start after the shopper consented (DNT and GPC still win). */
    start: guard(() => begin(true)),
    get running() {
      return running;
    },
    get pvid() {
      return pvid;
    },
  };
  trackers.set(api, guard(begin));
  return api;
}

function stoppedTracker(reason) {
  const stats = { running: false, reason, events: 0, batches: 0, invalid: 0, dropped: 0, errors: 0, emitErrors: 0, lastError: null };
  return { stats, flush: () => 0, stop: () => false, start: () => false, running: false, pvid: null };
}

/**
 * Start recording on `window`/`document` and hand batches to `emit`. Returns
 * the tracker, stopped when privacy signals or consent forbid tracking. Calling it
 * again for the same window returns the same tracker (never two on a page) and
 * starts it if consent has arrived since. The composition root (main.js) calls it.
 */
export function startTracker(options = {}) {
  try {
    const win = options.window ?? (typeof window === "undefined" ? undefined : window);
    if (!win || typeof win.setTimeout !== "function") return stoppedTracker("no_window");
    const existing = byWindow.get(win);
    if (existing) {
      trackers.get(existing)(false);
      return existing;
    }
    const tracker = createTracker({ ...options, window: win });
    byWindow.set(win, tracker);
    trackers.get(tracker)(false);
    return tracker;
  } catch {
    return stoppedTracker("error");
  }
}
