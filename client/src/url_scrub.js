// URL scrubbing for what leaves the browser: query strings are dropped, except the
// catalog's own filters (category, sort, on_sale, page). The search text (`q`) is what the
// shopper typed, so it is dropped too, like every other input value (docs/privacy.md).
// Pure functions: no DOM, no globals; used by the recorder on every rrweb event.

export const KEPT_CATALOG_PARAMS = ["category", "sort", "on_sale", "page"];
// Element attributes that hold a URL in rrweb's serialized DOM.
export const URL_ATTRIBUTES = ["href", "src", "action", "formaction", "poster", "cite", "data", "background"];
const BASE = "http://vitrine.invalid";

/** Return `value` without its query (catalog filters kept) and without its fragment. */
export function scrubUrl(value) {
  if (typeof value !== "string" || !/[?#]/.test(value)) return value;
  let url;
  try {
    url = new URL(value, BASE);
  } catch {
    return value.split(/[?#]/)[0];
  }
  const kept = new URLSearchParams();
  if (url.pathname === "/catalog") {
    for (const name of KEPT_CATALOG_PARAMS) {
      const param = url.searchParams.get(name);
      if (param !== null) kept.set(name, param);
    }
  }
  const query = kept.toString();
  const head = value.split(/[?#]/)[0];
  return query ? `${head}?${query}` : head;
}

function scrubAttributes(attributes) {
  if (!attributes || typeof attributes !== "object") return;
  for (const name of URL_ATTRIBUTES) {
    if (typeof attributes[name] === "string") attributes[name] = scrubUrl(attributes[name]);
  }
  if (typeof attributes.srcset === "string") {
    attributes.srcset = attributes.srcset
      .split(",")
      .map((part) => part.trim().split(/\s+/))
      .map(([url, ...rest]) => [scrubUrl(url), ...rest].join(" "))
      .join(", ");
  }
}

function scrubNode(node) {
  if (!node || typeof node !== "object") return;
  scrubAttributes(node.attributes);
  if (Array.isArray(node.childNodes)) for (const child of node.childNodes) scrubNode(child);
}

const META = 4;
const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const MUTATION = 0;

/**
 * Return an rrweb event with no query string left in its URLs: the page address (Meta),
 * links and sources in snapshots and in mutations. The event is copied before it is
 * changed (rrweb keeps its serialized nodes); one without a "?" or "#" is returned as is.
 */
export function scrubEvent(event) {
  if (!event || typeof event !== "object") return event;
  const text = JSON.stringify(event);
  if (!text || !/[?#]/.test(text)) return event;
  const copy = JSON.parse(text);
  const data = copy.data || {};
  if (copy.type === META) data.href = scrubUrl(data.href);
  else if (copy.type === FULL_SNAPSHOT) scrubNode(data.node);
  else if (copy.type === INCREMENTAL && data.source === MUTATION) {
    for (const add of data.adds || []) scrubNode(add.node);
    for (const change of data.attributes || []) scrubAttributes(change.attributes);
  }
  return copy;
}
