// Anchors: a stable selector for "where on our page" an interaction happened.
//
// Pure functions over a minimal element interface (tagName, getAttribute,
// parentElement, children, getBoundingClientRect), so node tests can use a tiny
// fake DOM. They never read an element's value or text content.

import { MAX_ANCHOR_LENGTH, isAnchor } from "./schema.js";

// Contract attributes (DESIGN.md §5), in priority order when one element has several.
export const ANCHOR_ATTRIBUTES = [
  "data-product-id",
  "data-action",
  "data-price",
  "data-discount",
  "data-category",
  "data-filter",
  "data-field",
  "data-adaptation",
  "data-tutorial",
];

// These repeat on every product card, so inside a card they are prefixed with the card.
const CARD_SCOPED = ["data-action", "data-price", "data-discount"];

const MAX_PATH_LEVELS = 5;
const MAX_WALK = 64; // a guard against cyclic fakes and absurdly deep documents
const SAFE_VALUE = /^[A-Za-z0-9_.-]{1,80}$/;
const SAFE_ID = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const SAFE_TAG = /^[a-z][a-z0-9-]{0,30}$/;

/** Return `node` if it is an element, its parent element if it is a text node, else null. */
export function toElement(node) {
  if (!node || typeof node !== "object") return null;
  if (node.nodeType === 3) return node.parentElement || null;
  if (node.nodeType !== undefined && node.nodeType !== 1) return null;
  return typeof node.tagName === "string" ? node : null;
}

function parentOf(el) {
  const parent = el.parentElement;
  return parent && typeof parent.tagName === "string" ? parent : null;
}

function attr(el, name) {
  if (typeof el.getAttribute !== "function") return null;
  const value = el.getAttribute(name);
  return typeof value === "string" ? value : null;
}

function tagOf(el) {
  return String(el.tagName).toLowerCase();
}

/** Return `[name="value"]`, or `[name]` when the value is empty or has unsafe characters. */
export function attributeSelector(name, value) {
  return typeof value === "string" && SAFE_VALUE.test(value) ? `[${name}="${value}"]` : `[${name}]`;
}

/** Return the closest element (from `node` up) carrying attribute `name`, or null. */
export function closestWithAttribute(node, name) {
  let el = toElement(node);
  for (let depth = 0; el && depth < MAX_WALK; depth += 1) {
    if (attr(el, name) !== null) return el;
    el = parentOf(el);
  }
  return null;
}

/** Return the value of attribute `name` on the closest element that has it, or null. */
export function closestAttribute(node, name) {
  const el = closestWithAttribute(node, name);
  return el ? attr(el, name) : null;
}

// The selector an element earns by itself (contract attribute, else id), or null.
// A card-scoped attribute wins over data-product-id on the same element: the shop's
// add-to-cart buttons carry both, and the button, not its card, is where the click was.
function ownSelector(el) {
  const scoped = CARD_SCOPED.some((name) => attr(el, name) !== null);
  for (const name of scoped ? CARD_SCOPED : ANCHOR_ATTRIBUTES) {
    const value = attr(el, name);
    if (value === null) continue;
    let selector = attributeSelector(name, value);
    if (CARD_SCOPED.includes(name)) {
      const card = closestWithAttribute(parentOf(el), "data-product-id");
      if (card) selector = `${attributeSelector("data-product-id", attr(card, "data-product-id"))} ${selector}`;
    }
    return selector;
  }
  const id = attr(el, "id");
  return id !== null && SAFE_ID.test(id) ? `#${id}` : null;
}

function pathSegment(el) {
  const tag = tagOf(el);
  if (!SAFE_TAG.test(tag)) return null;
  const parent = parentOf(el);
  const siblings = parent && parent.children ? Array.from(parent.children) : [];
  const sameTag = siblings.filter((node) => node && typeof node.tagName === "string" && tagOf(node) === tag);
  if (sameTag.length <= 1) return tag;
  const index = sameTag.indexOf(el);
  return index < 0 ? tag : `${tag}:nth-of-type(${index + 1})`;
}

/** Return a short CSS path such as `main>div:nth-of-type(2)>a` (≤ 5 levels, rooted at an id or below body). */
export function cssPath(node) {
  const start = toElement(node);
  if (!start) return null;
  const segments = [];
  let el = start;
  while (el && segments.length < MAX_PATH_LEVELS) {
    const tag = tagOf(el);
    if ((tag === "body" || tag === "html") && segments.length > 0) break;
    const id = attr(el, "id");
    if (id !== null && SAFE_ID.test(id)) {
      segments.unshift(`#${id}`);
      break;
    }
    const segment = pathSegment(el);
    if (segment === null) break;
    segments.unshift(segment);
    if (tag === "body" || tag === "html") break;
    el = parentOf(el);
  }
  // Too long (deep custom elements): keep the levels nearest the element.
  while (segments.length > 1 && !fits(segments.join(">"))) segments.shift();
  const selector = segments.join(">");
  return selector && fits(selector) ? selector : null;
}

function fits(selector) {
  return selector.length <= MAX_ANCHOR_LENGTH && isAnchor(selector);
}

/** Return the selector naming `node` itself: its own contract attribute or id, else a CSS path. */
export function selectorFor(node) {
  const el = toElement(node);
  if (!el) return null;
  const own = ownSelector(el);
  if (own && fits(own)) return own;
  return cssPath(el);
}

/**
 * Return `{element, selector}` for the nearest anchor of `node`: the closest
 * element (itself included) with a contract attribute or an id; else `node`
 * named by a short CSS path. Null when nothing usable is found.
 */
export function findAnchor(node) {
  const start = toElement(node);
  let el = start;
  for (let depth = 0; el && depth < MAX_WALK; depth += 1) {
    const own = ownSelector(el);
    if (own && fits(own)) return { element: el, selector: own };
    el = parentOf(el);
  }
  const path = start ? cssPath(start) : null;
  return path ? { element: start, selector: path } : null;
}

function clampFraction(value) {
  if (!Number.isFinite(value)) return 0;
  const rounded = Math.round(Math.min(1, Math.max(0, value)) * 1000) / 1000;
  return Math.min(1, Math.max(0, rounded));
}

/** Return `{rx, ry}`: where client point (x, y) falls in `rect`, each clamped to 0..1 (3 decimals). */
export function relativePosition(rect, clientX, clientY) {
  if (!rect) return { rx: 0, ry: 0 };
  const width = Number(rect.width);
  const height = Number(rect.height);
  const rx = width > 0 ? (clientX - Number(rect.left)) / width : 0;
  const ry = height > 0 ? (clientY - Number(rect.top)) / height : 0;
  return { rx: clampFraction(rx), ry: clampFraction(ry) };
}

function isTutorialLink(el) {
  if (tagOf(el) !== "a") return false;
  const href = attr(el, "href");
  return href !== null && /^\/tutorials(?:[/?#]|$)/.test(href);
}

/**
 * Return `{element, tag}` for the innermost hover-tagged element around `node`
 * (`[data-price]`→price, `[data-discount]`→discount, `[data-tutorial]` or a link
 * to /tutorials→tutorial, `[data-product-id]`→product), or null.
 */
export function hoverTarget(node) {
  let el = toElement(node);
  for (let depth = 0; el && depth < MAX_WALK; depth += 1) {
    if (attr(el, "data-price") !== null) return { element: el, tag: "price" };
    if (attr(el, "data-discount") !== null) return { element: el, tag: "discount" };
    if (attr(el, "data-tutorial") !== null || isTutorialLink(el)) return { element: el, tag: "tutorial" };
    if (attr(el, "data-product-id") !== null) return { element: el, tag: "product" };
    el = parentOf(el);
  }
  return null;
}

// What a shopper expects to respond to a click (docs/tracker.md "Frustration facts").
const INTERACTIVE_TAGS = ["button", "input", "select", "textarea", "label", "summary", "option"];
const INTERACTIVE_ROLES = ["button", "link", "checkbox", "tab", "menuitem"];
export const FRUSTRATION_OPT_OUT = "data-vitrine-frustration";

function interactiveElement(el) {
  const tag = tagOf(el);
  if (INTERACTIVE_TAGS.includes(tag)) return true;
  if (tag === "a" && attr(el, "href") !== null) return true;
  const role = attr(el, "role");
  if (role !== null && INTERACTIVE_ROLES.includes(role.trim())) return true;
  if (attr(el, "onclick") !== null || attr(el, "data-action") !== null) return true;
  const editable = attr(el, "contenteditable");
  if (editable !== null && editable.trim().toLowerCase() !== "false") return true;
  const tabindex = attr(el, "tabindex");
  return tabindex !== null && tabindex.trim() !== "-1";
}

/**
 * True when `node` or an ancestor is interactive: `a[href]`, button, input, select,
 * textarea, label, summary, option, role button/link/checkbox/tab/menuitem, `[onclick]`,
 * `[contenteditable]` (not "false"), `[tabindex]` other than "-1", or `[data-action]`.
 */
export function isInteractive(node) {
  let el = toElement(node);
  for (let depth = 0; el && depth < MAX_WALK; depth += 1) {
    if (interactiveElement(el)) return true;
    el = parentOf(el);
  }
  return false;
}

/** True when `node` or an ancestor carries data-vitrine-frustration="off". */
export function frustrationOptedOut(node) {
  let el = toElement(node);
  for (let depth = 0; el && depth < MAX_WALK; depth += 1) {
    const value = attr(el, FRUSTRATION_OPT_OUT);
    if (value !== null && value.trim().toLowerCase() === "off") return true;
    el = parentOf(el);
  }
  return false;
}
