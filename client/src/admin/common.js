// What every admin page shares: JSON reads, the /admin socket, vendor scripts, formatting.

import { loadScript } from "../recorder.js";

const SOCKET_IO_MODULE = "/vendor/socket.io.esm.min.js";

export const PERSONA_LABELS = {
  explorer: "Explorer",
  hurried: "Hurried",
  bargain_hunter: "Bargain hunter",
  unknown: "Unknown",
};

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(`${status} ${code}${detail ? `: ${detail}` : ""}`);
    this.status = status;
    this.code = code;
  }
}

/** GET a JSON API; a 401 (logged out meanwhile) sends the browser to the login page. */
export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) {
    window.location.assign(`/admin/login?next=${encodeURIComponent(window.location.pathname)}`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.error || "error", body.detail || "");
  return body;
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

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function money(cents) {
  return cents === null || cents === undefined ? "—" : `€${(cents / 100).toFixed(2)}`;
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
