// Talking to the server over HTTP, for the storefront and the admin console alike: JSON calls
// with the page's CSRF token, one error type for refused calls, and classic (UMD) scripts
// loaded once. Browser globals are read only when a function runs, never at import.

import { metaContent } from "./dom.js";

export class ApiError extends Error {
  /** A call the server answered with an error status: `code` is its stable `error` field. */
  constructor(status, code, detail) {
    super(`${status} ${code || "error"}${detail ? `: ${detail}` : ""}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code || "error";
    this.detail = detail || "";
  }
}

/** The token the server rendered into `<meta name="csrf-token">`, sent back on every call. */
export function csrfToken(doc = globalThis.document) {
  return metaContent("csrf-token", doc) ?? "";
}

/** Human text for a failed call: the server's detail, capitalised, or a generic line. */
export function errorMessage(error, fallback = "Something went wrong. Please try again.") {
  if (error instanceof ApiError) {
    if (error.code === "csrf_failed") return "Your session has expired. Please reload the page.";
    if (error.detail) return error.detail.charAt(0).toUpperCase() + error.detail.slice(1);
    return fallback;
  }
  if (error instanceof TypeError) return "You seem to be offline. Check your connection and try again.";
  return fallback;
}

/**
 * Call a JSON endpoint; resolves with the parsed body (null when it is not JSON) or throws
 * ApiError with the server's `error` code and `detail`. A network failure is fetch's TypeError.
 */
export async function requestJSON(method, url, body) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data?.error, data?.detail);
  return data;
}

export const getJSON = (url) => requestJSON("GET", url);
export const postJSON = (url, body) => requestJSON("POST", url, body);

/** Load a classic script once it is asked for (the vendor builds are UMD); resolves when it ran. */
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
