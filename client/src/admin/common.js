// What every admin page shares: the login redirect, the /admin socket, vendor scripts,
// formatting. JSON calls and ApiError live in ../http.js, `el` and money in ../dom.js (shared
// with the shop).

import { el } from "../dom.js";
import { ApiError, getJSON as fetchJSON, loadScript } from "../http.js";

const SOCKET_IO_MODULE = "/vendor/socket.io.esm.min.js";

export const PERSONA_LABELS = {
  explorer: "Explorer",
  hurried: "Hurried",
  bargain_hunter: "Bargain hunter",
  unknown: "Unknown",
};

/** GET a JSON API (../http.js); a 401 (logged out meanwhile) sends the browser to the login page. */
export async function getJSON(url) {
  try {
    return await fetchJSON(url);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      window.location.assign(`/admin/login?next=${encodeURIComponent(window.location.pathname)}`);
    }
    throw error;
  }
}

let socketPromise = null;

/** The /admin Socket.IO connection (one per page); the server checks the admin cookie. */
export function adminSocket() {
  if (!socketPromise) {
    socketPromise = import(SOCKET_IO_MODULE).then(({ io }) =>
      io("/admin", { transports: ["websocket"], withCredentials: true }),
    );
  }
  return socketPromise;
}

/** Join a live channel now and after every reconnect; resolves with the first ack. */
export async function subscribe(payload, handlers) {
  const socket = await adminSocket();
  for (const [event, handler] of Object.entries(handlers)) socket.on(event, handler);
  const join = () => new Promise((resolve) => socket.timeout(5000).emit("subscribe", payload, (error, ack) => resolve(error ? { ok: false, error: "timeout" } : ack)));
  socket.on("connect", () => {
    join();
  });
  return join();
}

const loaded = new Map();

/** Load a UMD vendor build (a classic script: CSP allows 'self') once; resolves with its global. */
export function vendorGlobal(src, name) {
  if (!loaded.has(src)) loaded.set(src, window[name] ? Promise.resolve() : loadScript(document, src));
  return loaded.get(src).then(() => window[name]);
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

export function clockTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 19)} UTC`;
}

export function personaChip(persona) {
  const id = PERSONA_LABELS[persona] ? persona : "unknown";
  return el("span", { className: `chip chip--${id}`, "data-persona": id, text: PERSONA_LABELS[id] });
}

export function number(value, digits = 0) {
  return typeof value === "number" ? value.toLocaleString("en", { maximumFractionDigits: digits }) : "—";
}
