// The storefront's composition root: the one place that builds the page's objects and
// hands each its collaborators (docs/tracker.md, "Client wiring").
//
//   transport ──send──▶ tracker (its `emit`)      transport.on("persona"/"adapt") ──▶ push.js
//   transport ──request("replay")──▶ recorder (its `send`)
//   tracker, recorder, transport ──▶ consent.js (start/stop on the shopper's choice)
//
// No other module creates or finds these objects; none reads a window global to do so.

import { startAdaptations } from "./adapt.js";
import { startConsent } from "./consent.js";
import { report } from "./dom.js";
import { applyAdapt, applyPersona } from "./push.js";
import { REPLAY_EVENT, REPLAY_REQUEST, pageRecorder } from "./recorder.js";
import { startShop } from "./shop.js";
import { startTracker } from "./tracker.js";
import { createTransport } from "./transport.js";

const SOCKET_IO_MODULE = "/vendor/socket.io.esm.min.js";

function sessionStorageOf(win) {
  try {
    return win.sessionStorage || null; // reading it throws when storage is disabled
  } catch {
    return null;
  }
}

/**
 * The test and debug hook `window.vitrineDebug`: read-only views of the tracker, the
 * transport and the recorder, for tests/e2e, tests/bench and a developer's console
 * (docs/tracker.md, "Debug API"). Deliberately not a service locator: no module reads it.
 */
function debugHook(tracker, transport, recorder) {
  return Object.freeze({
    tracker: Object.freeze({
      get stats() {
        return tracker.stats;
      },
      get running() {
        return tracker.running;
      },
      get pvid() {
        return tracker.pvid;
      },
      flush: () => tracker.flush(),
    }),
    transport: Object.freeze({
      get stats() {
        return transport.stats;
      },
      get pending() {
        return transport.pending;
      },
      get connected() {
        return transport.connected;
      },
      get opened() {
        return transport.opened;
      },
    }),
    recorder: Object.freeze({
      get state() {
        return recorder.state;
      },
      get stats() {
        return recorder.stats;
      },
    }),
  });
}

let booted = null;

/**
 * Wire the page (idempotent). Options are for tests: `window`, `io` (else socket.io-client
 * is imported from /vendor the first time something has to be sent, so pages where tracking
 * is off never open a socket), `now`, `record` (rrweb's, else loaded when a visit is sampled).
 * Returns {tracker, transport, recorder, ready} (`ready`: the recorder's first start).
 */
export function boot(options = {}) {
  if (booted) return booted;
  const win = options.window ?? (typeof window === "undefined" ? undefined : window);
  if (!win || !win.document) return null;
  const doc = win.document;
  const nav = win.navigator;
  try {
    // The page's own behaviour first, as before: the tracker's `page` event measures the
    // document after the initial adaptations are in.
    startShop();
    startAdaptations();

    const transport = createTransport({
      io: options.io,
      loadIo: () => import(SOCKET_IO_MODULE).then((module) => module.io),
      url: "/track",
      storage: sessionStorageOf(win),
      beacon: nav && typeof nav.sendBeacon === "function" ? (url, data) => nav.sendBeacon(url, data) : null,
      setTimeout: (fn, ms) => win.setTimeout(fn, ms),
      clearTimeout: (id) => win.clearTimeout(id),
      // The persona this page shows: a persona decided while the page had no socket yet
      // (it opens on the first send) is sent again on connect when it differs.
      auth: (send) => send({ persona: (doc.body && doc.body.dataset.persona) || "unknown" }),
    });
    transport.on("persona", (data) => applyPersona(doc, data, win.CustomEvent));
    transport.on("adapt", (data) => applyAdapt(doc, data, win.CustomEvent));

    const tracker = startTracker({ emit: transport.send, window: win, document: doc, now: options.now });
    const recorder = pageRecorder({
      window: win,
      tracker,
      send: (chunk) => transport.request(REPLAY_EVENT, chunk, REPLAY_REQUEST),
      record: options.record,
    });
    startConsent({ tracker, recorder, transport });

    win.vitrineDebug = debugHook(tracker, transport, recorder);
    const ready = recorder.start(); // after the tracker: it records only while the tracker runs
    booted = { tracker, transport, recorder, ready };
    return booted;
  } catch (error) {
    report("boot", error); // the page works without tracking
    return null;
  }
}

if (typeof window !== "undefined" && window.document) boot();
