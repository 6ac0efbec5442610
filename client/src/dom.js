// Small DOM helpers shared by the storefront and admin modules. No dependencies, and no
// browser global is touched at import time (the modules load under node's test runner).

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** Log a problem without ever throwing into the page. */
export function report(where, error) {
  try {
    console.warn(`[vitrine] ${where}:`, error);
  } catch {
    /* nothing left to do */
  }
}

/** Wrap a handler so that neither a thrown error nor a rejected promise escapes. */
export function safe(fn, where = "handler") {
  return function guarded(...args) {
    try {
      const result = fn.apply(this, args);
      if (result && typeof result.catch === "function") {
        result.catch((error) => report(where, error));
      }
      return result;
    } catch (error) {
      report(where, error);
      return undefined;
    }
  };
}

/** Delegated listener: `handler(event, matchedElement)` for events whose target is inside `selector`. */
export function on(type, selector, handler, { root = document, capture = false } = {}) {
  const listener = safe((event) => {
    const start = event.target instanceof Element ? event.target : event.target?.parentElement;
    const match = start?.closest(selector);
    if (match && (root === document || root.contains(match))) {
      return handler(event, match);
    }
    return undefined;
  }, `${type} ${selector}`);
  root.addEventListener(type, listener, capture);
  return () => root.removeEventListener(type, listener, capture);
}

/** Run `fn` once the DOM is parsed (modules are deferred, but stay safe if loaded late). */
export function ready(fn) {
  const run = safe(fn, "ready");
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run, { once: true });
  } else {
    run();
  }
}

/** The content of `<meta name="…">` (what the server told the page), or null without the tag. */
export function metaContent(name, doc = globalThis.document) {
  if (!doc || typeof doc.querySelector !== "function") return null;
  const tag = doc.querySelector(`meta[name="${name}"]`);
  if (!tag) return null;
  const value = typeof tag.getAttribute === "function" ? tag.getAttribute("content") : tag.content;
  return typeof value === "string" ? value : "";
}

/**
 * Build an element: `el("a", {href, class: "btn", dataset: {x: "1"}, text: "Go"}, child, …)`.
 * `class`/`className` set the class, `text` the text content, `dataset` data attributes;
 * null, undefined and false skip an attribute, true sets it empty. Children may be nodes,
 * strings, numbers, nested arrays or null (skipped).
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class" || key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(typeof child === "object" ? child : String(child));
  }
  return node;
}

/** Dispatch a CustomEvent on document for other modules to observe. */
export function emit(name, detail) {
  try {
    document.dispatchEvent(new CustomEvent(name, { detail }));
  } catch (error) {
    report(`emit ${name}`, error);
  }
}

function toastRegion() {
  let region = document.querySelector("[data-toast-region]");
  if (!region) {
    region = document.createElement("div");
    region.className = "toast-region";
    region.dataset.toastRegion = "";
    region.setAttribute("role", "status");
    region.setAttribute("aria-live", "polite");
    region.setAttribute("aria-atomic", "true");
    document.body.append(region);
  }
  return region;
}

/**
 * Show a short message in the polite live region.
 * options: { kind: "info" | "error", link: { href, label }, timeout }
 */
export function toast(message, { kind = "info", link = null, timeout = 3500 } = {}) {
  try {
    const region = toastRegion();
    const item = document.createElement("div");
    item.className = `toast toast--${kind}`;
    item.dataset.toast = kind;
    const text = document.createElement("span");
    text.textContent = message;
    item.append(text);
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.label;
      item.append(a);
    }
    region.replaceChildren(item);
    const wait = kind === "error" ? Math.max(timeout, 6000) : timeout;
    window.setTimeout(() => {
      item.classList.add("is-leaving");
      window.setTimeout(() => item.remove(), 250);
    }, wait);
    return item;
  } catch (error) {
    report("toast", error);
    return null;
  }
}

/** Format an amount string such as "12.34" (the shop API's decimals) for display. */
export function money(amount) {
  return `€${amount}`;
}

/** Format integer cents (the admin API's amounts) for display; "—" when there is none. */
export function moneyFromCents(cents) {
  return cents === null || cents === undefined ? "—" : money((cents / 100).toFixed(2));
}
