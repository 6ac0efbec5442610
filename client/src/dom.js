// Small DOM helpers shared by the storefront modules. No dependencies.

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

/** Read a <meta name="..."> value. */
export function meta(name) {
  return document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") ?? "";
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

/** Format an amount string such as "12.34" for display. */
export function money(amount) {
  return `€${amount}`;
}
