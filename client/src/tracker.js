// Tracker: records shopper behaviour as schema-v1 events (docs/events.md) and hands
// batches to an `emit(batch, {unload})` function. It never knows the transport,
// never reads input values or text content, and no exception escapes it into
// the host page: every listener and timer is wrapped and failures are counted.

import {
  ERROR_KINDS,
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
  OUTCOME_WINDOW_MS,
  POINTER_TYPES,
  SCHEMA_VERSION,
  SORTS,
  TABLET_MAX_WIDTH,
  isAction,
  isCategory,
  isPath,
  isProductId,
  isScriptOrigin,
  isToken,
  jsonBytes,
  validateEvent,
} from "./schema.js";
import {
  closestAttribute,
  findAnchor,
  frustrationOptedOut,
  hoverTarget,
  isInteractive,
  relativePosition,
  selectorFor,
} from "./anchors.js";
import { metaContent } from "./dom.js";

export const MOVE_INTERVAL_MS = 50; // ≤ 20 Hz
export const SCROLL_INTERVAL_MS = 200; // ≤ 5 Hz
export const FLUSH_INTERVAL_MS = 1000;
export const FLUSH_AT_EVENTS = 50;
export const PVID_LENGTH = 22;
export const ZONE_VIEW_MS = 1000; // a zone half in view this long counts as seen
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// Pointers whose path and resting place mean something: a finger dragging the page is
// not a pointer path, and a finger never rests over an element without touching it.
export const PATH_POINTER_TYPES = ["mouse", "pen"];
// At most this many clicks are watched for what follows them (the oldest is dropped, with no
// outcome): a burst of clicks costs a bounded amount of work.
export const MAX_WATCHED_CLICKS = 20;
// What a DOM change is, for a click's outcome: anything under <html>.
const MUTATIONS = { subtree: true, childList: true, attributes: true, characterData: true };
// An error's own name when it is one of these; else "other" ("rejection": a non-Error reason).
const ERROR_NAMES = ERROR_KINDS.filter((kind) => kind !== "rejection" && kind !== "other");

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
  let hiddenSent = false; // a `vis` hidden was recorded and the page has not been visible since
  let hover = null;
  let lastMove = null;
  let lastPointerType = null; // pointerType of the last pointerdown (for clicks that carry none)
  let canHover = true; // false when matchMedia("(hover: hover)") says the device cannot hover
  // Clicks whose outcome is being watched, oldest first (docs/tracker.md "Frustration facts"):
  // {at (clock ms), click: the outcome's fields copied from the click, dm, nv, em, ek, eo}.
  let watched = [];
  let watchTimer = null;
  let observer = null; // a MutationObserver, connected only while a watched click lacks dm
  let observing = false;

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
    if (!running) return null;
    const elapsed = Math.max(0, Math.round(now() - t0));
    if (elapsed > MAX_OFFSET_MS) {
      stats.dropped += 1;
      return null;
    }
    const event = { k: kind, t: elapsed, ...fields };
    if (validateEvent(event) !== null) {
      stats.invalid += 1;
      return null;
    }
    buffer.push(event);
    stats.events += 1;
    if (buffer.length >= config.flushAtEvents) flush();
    else if (flushTimer === null) flushTimer = setTimer(onFlushTimer, config.flushIntervalMs);
    return event;
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
    const zone = zoneOf(event.target);
    if (zone) fields.z = zone;
    fields.ia = isInteractive(event.target) ? 1 : 0;
    const optedOut = frustrationOptedOut(event.target);
    if (optedOut) fields.nf = 1;
    const click = record("click", fields);
    if (click && !optedOut) watchClick(click);
  }

  // ---------------------------------------------------------------- frustration facts
  // What followed a click, for the server's dead- and error-click signals: the first DOM
  // change, the page being hidden or left, the first uncaught error (its kind and script
  // origin only), each within OUTCOME_WINDOW_MS. An `outcome` is recorded when the window
  // closes (or at once when the page hides) for a click on a non-interactive element, or
  // for any click followed by an error.

  function sinceClick(entry) {
    const ms = Math.round(now() - entry.at);
    return ms >= 0 && ms <= OUTCOME_WINDOW_MS ? ms : null;
  }

  function watchClick(click) {
    const { t: ct, a, x, y, rx, ry, ia } = click;
    watched.push({ at: now(), click: { ct, a, x, y, rx, ry, ia } });
    if (watched.length > MAX_WATCHED_CLICKS) watched.splice(0, watched.length - MAX_WATCHED_CLICKS);
    updateObserver();
    scheduleWatch();
  }

  function finishWatch(entry) {
    const { click } = entry;
    if (click.ia !== 0 && entry.em === undefined) return; // an interactive click that went well
    const fields = { ...click };
    for (const name of ["dm", "nv", "em", "ek", "eo"]) if (entry[name] !== undefined) fields[name] = entry[name];
    record("outcome", fields);
  }

  function scheduleWatch() {
    if (watchTimer !== null || watched.length === 0) return;
    watchTimer = setTimer(onWatchTimer, Math.max(0, watched[0].at + OUTCOME_WINDOW_MS - now()));
  }

  const onWatchTimer = guard(() => {
    watchTimer = null;
    const closing = now() - OUTCOME_WINDOW_MS;
    while (watched.length && watched[0].at <= closing) finishWatch(watched.shift());
    updateObserver();
    scheduleWatch();
  });

  // The page hides or unloads: every watched click ends now, with what was seen so far.
  function closeWatched() {
    const ending = watched;
    watched = [];
    if (watchTimer !== null) clearTimer(watchTimer);
    watchTimer = null;
    updateObserver();
    for (const entry of ending) {
      const ms = sinceClick(entry);
      if (ms !== null) entry.nv = ms;
      finishWatch(entry);
    }
  }

  function dropWatched() {
    watched = [];
    if (watchTimer !== null) clearTimer(watchTimer);
    watchTimer = null;
    updateObserver();
  }

  const onMutations = guard(() => {
    for (const entry of watched) {
      if (entry.dm !== undefined) continue;
      const ms = sinceClick(entry);
      if (ms !== null) entry.dm = ms;
    }
    updateObserver();
  });

  // Observe the document only while a watched click still waits for its first DOM change.
  // Guarded on its own: an observer that fails costs the dm, never the outcome.
  const updateObserver = guard(() => {
    const wanted = running && watched.some((entry) => entry.dm === undefined);
    if (wanted === observing) return;
    if (!wanted) {
      observing = false;
      observer.disconnect();
      return;
    }
    const root = doc.documentElement;
    const Observer = win.MutationObserver;
    if (!root || typeof Observer !== "function") return;
    if (observer === null) observer = new Observer(onMutations);
    observer.observe(root, MUTATIONS);
    observing = true;
  });

  function errorKind(value, rejection) {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return rejection ? "rejection" : "other";
    const DOMExceptionCtor = win.DOMException;
    const tag = Object.prototype.toString.call(value);
    if (tag === "[object DOMException]" || (typeof DOMExceptionCtor === "function" && value instanceof DOMExceptionCtor)) return "DOMException";
    const ErrorCtor = typeof win.Error === "function" ? win.Error : Error;
    if (!(tag === "[object Error]" || value instanceof ErrorCtor || value instanceof Error)) return rejection ? "rejection" : "other";
    const { name } = value;
    return typeof name === "string" && ERROR_NAMES.includes(name) ? name : "other";
  }

  // The script's origin only: "inline" (the page itself), "self", the origin, or "unknown".
  // An empty filename is the browser muting a cross-origin script's error ("Script error.",
  // no file, no line): the error came from some other origin, not from the page.
  function scriptOrigin(filename) {
    if (typeof filename !== "string" || filename === "") return "unknown";
    const location = win.location;
    if (!location) return "unknown";
    const URLCtor = win.URL || URL;
    const parsed = new URLCtor(filename, location.href);
    const page = new URLCtor(location.href);
    if (parsed.origin === page.origin && parsed.pathname === page.pathname && parsed.search === page.search) return "inline";
    if (parsed.origin === page.origin) return "self";
    const origin = String(parsed.origin).toLowerCase();
    return isScriptOrigin(origin) ? origin : "unknown";
  }

  function noteFailure(kind, originOf) {
    let origin = null;
    for (const entry of watched) {
      if (entry.em !== undefined) continue;
      const ms = sinceClick(entry);
      if (ms === null) continue;
      if (origin === null) origin = originOf();
      entry.em = ms;
      entry.ek = kind;
      entry.eo = origin;
    }
  }

  // Uncaught errors note only when, which kind and which script origin: never the message.
  function onPageError(event) {
    if (watched.length === 0 || !event) return;
    const target = event.target;
    if (target && target !== win && target.nodeType === 1) return; // a resource failed to load
    let kind = "other";
    try {
      kind = errorKind(event.error, false);
    } catch {
      kind = "other";
    }
    noteFailure(kind, () => {
      try {
        return scriptOrigin(event.filename);
      } catch {
        return "unknown";
      }
    });
  }

  function onRejection(event) {
    if (watched.length === 0 || !event) return;
    let kind = "rejection";
    try {
      kind = errorKind(event.reason, true);
    } catch {
      kind = "rejection";
    }
    noteFailure(kind, () => "unknown");
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

  /** Record a `vis` event: the page's new state and how long it was active before. */
  function recordVisibility(state) {
    const at = now();
    if (visibleSince !== null) activeMs += Math.max(0, at - visibleSince);
    visibleSince = state === "visible" ? at : null;
    const act_ms = Math.min(MAX_OFFSET_MS, Math.round(activeMs));
    activeMs = 0;
    hiddenSent = state === "hidden";
    record("vis", { s: state, act_ms });
  }

  /** The page is going away or out of sight: everything pending leaves with one `vis`. */
  function leave() {
    drainSamples();
    closeWatched(); // outcomes first: they leave with the unload flush
    if (!hiddenSent) recordVisibility("hidden");
    flush({ unload: true });
  }

  function onVisibilityChange() {
    if (isVisible()) recordVisibility("visible");
    else leave();
  }

  // Chromium may fire pagehide before visibilitychange when a tab closes, and the second
  // handler's beacon may then never leave (measured: a closed phone tab's `vis` lost under
  // load), so whichever comes first records the hide and sends the tail; the other only
  // sends what is left.
  function onPageHide() {
    leave();
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
    [win, "error", onPageError, { capture: true, passive: true }],
    [win, "unhandledrejection", onRejection, { capture: true, passive: true }],
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
      // The product's own discount badge (related cards sit outside the product's root).
      const badge = root && typeof root.querySelector === "function" ? root.querySelector("[data-discount]") : null;
      const disc = badge ? Number(badge.getAttribute("data-discount")) : 0;
      if (Number.isInteger(disc) && disc >= 1 && disc <= 100) fields.disc = disc;
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

  // Zones (docs/admin.md "Zones"): the closest data-zone names a click's zone, or an
  // adaptation widget (adaptation-<name>). A zone is seen once per page view, when at least
  // half of it stays in the viewport for ZONE_VIEW_MS; one IntersectionObserver, no polling.
  function zoneOf(target) {
    const named = closestAttribute(target, "data-zone");
    if (isCategory(named)) return named;
    const widget = closestAttribute(target, "data-adaptation");
    const zone = widget ? `adaptation-${widget}` : null;
    return isCategory(zone) ? zone : null;
  }

  let zoneObserver = null;
  const zoneTimers = new Map(); // zone -> timer while it is half in view
  const zonesSeen = new Set();

  function watchZones() {
    if (zoneObserver || typeof win.IntersectionObserver !== "function" || !doc.querySelectorAll) return;
    zoneObserver = new win.IntersectionObserver(guard((entries) => {
      for (const entry of entries) {
        const zone = zoneOf(entry.target);
        if (!zone || zonesSeen.has(zone)) continue;
        if (entry.intersectionRatio >= 0.5 && !zoneTimers.has(zone)) {
          zoneTimers.set(zone, setTimer(guard(() => {
            zoneTimers.delete(zone);
            if (zonesSeen.has(zone)) return;
            zonesSeen.add(zone);
            record("zone", { z: zone });
          }), ZONE_VIEW_MS));
        } else if (entry.intersectionRatio < 0.5 && zoneTimers.has(zone)) {
          clearTimer(zoneTimers.get(zone));
          zoneTimers.delete(zone);
        }
      }
    }), { threshold: [0, 0.5] });
    for (const element of doc.querySelectorAll("[data-zone], [data-adaptation]")) zoneObserver.observe(element);
  }

  function unwatchZones() {
    if (zoneObserver) zoneObserver.disconnect();
    zoneObserver = null;
    for (const timer of zoneTimers.values()) clearTimer(timer);
    zoneTimers.clear();
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
    watchZones();
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
    unwatchZones();
    running = false;
    dropWatched(); // a window cut short says nothing about what followed the click
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
