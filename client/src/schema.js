// Tracker vocabulary, schema v1: the browser mirror of server/domain/events.py (docs/events.md).
//
// Every `export const` below is a plain JSON literal on one line, so that
// tests/unit/test_schema_mirror.py can read it with a regex and json.loads
// and compare it with the Python definitions. Keep it that way: no
// expressions, no single quotes, no trailing commas, no numeric separators.

export const SCHEMA_VERSION = 1;
export const EVENT_KINDS = ["page", "move", "click", "scroll", "vis", "hover", "cart", "search", "sort", "filter", "outcome", "zone"];
export const EVENT_FIELDS = {"page": {"required": ["path", "title", "ref", "vw", "vh", "dh", "dev"], "optional": ["pid", "cat", "sort", "sale", "hov", "disc"]}, "move": {"required": ["x", "y"], "optional": []}, "click": {"required": ["x", "y", "a", "rx", "ry"], "optional": ["act", "pid", "pt", "ia", "nf", "z"]}, "scroll": {"required": ["y", "d"], "optional": []}, "vis": {"required": ["s", "act_ms"], "optional": []}, "hover": {"required": ["a", "tag", "ms"], "optional": ["pid"]}, "cart": {"required": ["op"], "optional": ["pid", "q"]}, "search": {"required": ["n"], "optional": []}, "sort": {"required": ["v"], "optional": []}, "filter": {"required": ["f"], "optional": ["v"]}, "outcome": {"required": ["ct", "a", "x", "y", "rx", "ry", "ia"], "optional": ["dm", "nv", "em", "ek", "eo"]}, "zone": {"required": ["z"], "optional": []}};
export const BATCH_FIELDS = ["v", "vid", "sid", "pvid", "seq", "t0", "path", "events"];
export const SORTS = ["price_asc", "price_desc", "discount", "popular", "newest"];
export const HOVER_TAGS = ["price", "discount", "product", "tutorial"];
export const CART_OPS = ["add", "update", "remove", "checkout", "coupon", "order"];
export const FILTERS = ["on-sale", "category"];
export const DEVICE_CLASSES = ["mobile", "tablet", "desktop"];
export const VISIBILITY_STATES = ["visible", "hidden"];
export const POINTER_TYPES = ["mouse", "touch", "pen"];
export const ERROR_KINDS = ["Error", "TypeError", "ReferenceError", "SyntaxError", "RangeError", "URIError", "EvalError", "AggregateError", "DOMException", "rejection", "other"];
export const PERSONAS = ["explorer", "hurried", "bargain_hunter"];
export const UNKNOWN_PERSONA = "unknown";
export const ACK_ERRORS = ["invalid_json", "too_large", "invalid_batch", "invalid_event", "unknown_kind", "too_many_events", "forbidden_visitor", "rate_limited", "unavailable", "busy", "no_consent"];
export const RETRYABLE_ERRORS = ["unavailable", "rate_limited", "busy"];
export const MIN_EVENTS_PER_BATCH = 1;
export const MAX_EVENTS_PER_BATCH = 500;
export const MAX_BATCH_BYTES = 262144;
export const MAX_SEQ = 1000000;
export const MAX_OFFSET_MS = 86400000;
export const MAX_COORDINATE = 100000;
export const MAX_VIEWPORT = 20000;
export const MIN_HOVER_MS = 100;
export const MAX_HOVER_MS = 600000;
export const OUTCOME_WINDOW_MS = 2000;
export const MAX_QUANTITY = 99;
export const MAX_SEARCH_LENGTH = 200;
export const MAX_ANCHOR_LENGTH = 200;
export const MAX_PATH_LENGTH = 200;
export const MAX_TITLE_LENGTH = 200;
export const MOBILE_MAX_WIDTH = 767;
export const TABLET_MAX_WIDTH = 1023;
export const ID_PATTERN = "^[A-Za-z0-9_-]{8,64}$";
export const PRODUCT_ID_PATTERN = "^p\\d{3}$";
export const SLUG_PATTERN = "^[a-z0-9-]{1,40}$";
export const ANCHOR_PATTERN = "^[A-Za-z0-9_\\-#.\\[\\]=\\\"':>() ]{1,200}$";
export const PATH_PATTERN = "^/[A-Za-z0-9_./-]{0,199}$";
export const SCRIPT_ORIGIN_PATTERN = "^(self|inline|unknown|https?://[a-z0-9.-]{1,100}(:[0-9]{1,5})?)$";
export const MIN_T0 = 1000000000000;
export const MAX_T0 = 10000000000000;

const ID_RE = new RegExp(ID_PATTERN);
const PRODUCT_ID_RE = new RegExp(PRODUCT_ID_PATTERN);
const SLUG_RE = new RegExp(SLUG_PATTERN);
const ANCHOR_RE = new RegExp(ANCHOR_PATTERN);
const PATH_RE = new RegExp(PATH_PATTERN);
const SCRIPT_ORIGIN_RE = new RegExp(SCRIPT_ORIGIN_PATTERN);

const isInt = (value, min, max) => Number.isInteger(value) && value >= min && value <= max;
const isFraction = (value) => typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= 1;
const matches = (re) => (value) => typeof value === "string" && re.test(value);
const oneOf = (list) => (value) => list.includes(value);
const intIn = (min, max) => (value) => isInt(value, min, max);

export const isToken = matches(ID_RE);
export const isProductId = matches(PRODUCT_ID_RE);
export const isCategory = matches(SLUG_RE);
export const isAction = matches(SLUG_RE);
export const isAnchor = matches(ANCHOR_RE);
export const isPath = matches(PATH_RE);
export const isScriptOrigin = matches(SCRIPT_ORIGIN_RE);

const coord = intIn(0, MAX_COORDINATE);
const viewport = intIn(1, MAX_VIEWPORT);
const outcomeMs = intIn(0, OUTCOME_WINDOW_MS);

// One checker per field name; `v` depends on the kind, so it is special-cased below.
const FIELD_CHECKS = {
  path: isPath,
  title: (value) => typeof value === "string" && value.length <= MAX_TITLE_LENGTH,
  ref: (value) => value === "" || isPath(value),
  vw: viewport,
  vh: viewport,
  dh: intIn(1, MAX_COORDINATE),
  dev: oneOf(DEVICE_CLASSES),
  pid: isProductId,
  cat: isCategory,
  x: coord,
  y: coord,
  a: isAnchor,
  rx: isFraction,
  ry: isFraction,
  d: isFraction,
  act: isAction,
  s: oneOf(VISIBILITY_STATES),
  act_ms: intIn(0, MAX_OFFSET_MS),
  tag: oneOf(HOVER_TAGS),
  ms: intIn(0, MAX_HOVER_MS),
  op: oneOf(CART_OPS),
  q: intIn(0, MAX_QUANTITY),
  n: intIn(0, MAX_SEARCH_LENGTH),
  f: oneOf(FILTERS),
  sort: oneOf(SORTS),
  sale: intIn(0, 1),
  hov: intIn(0, 1),
  disc: intIn(1, 100), // page: the discount badge of the product page's own product, in percent
  pt: oneOf(POINTER_TYPES),
  z: matches(SLUG_RE),
  ia: intIn(0, 1), // click, outcome: the target or an ancestor is interactive
  nf: intIn(0, 1), // click: inside data-vitrine-frustration="off" (sent as 1 only)
  ct: intIn(0, MAX_OFFSET_MS), // outcome: the click's own t
  dm: outcomeMs,
  nv: outcomeMs,
  em: outcomeMs,
  ek: oneOf(ERROR_KINDS),
  eo: isScriptOrigin,
};

const V_CHECKS = { sort: oneOf(SORTS), filter: isCategory };

/** Return null when `event` is a valid v1 event, else the server's error code for it. */
export function validateEvent(event) {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return "invalid_event";
  const spec = Object.prototype.hasOwnProperty.call(EVENT_FIELDS, event.k) ? EVENT_FIELDS[event.k] : null;
  if (spec === null) return "unknown_kind";
  if (!isInt(event.t, 0, MAX_OFFSET_MS)) return "invalid_event";
  for (const name of spec.required) {
    if (!(name in event)) return "invalid_event";
  }
  for (const [name, value] of Object.entries(event)) {
    if (name === "k" || name === "t") continue;
    if (!spec.required.includes(name) && !spec.optional.includes(name)) return "invalid_event";
    const check = name === "v" ? V_CHECKS[event.k] : FIELD_CHECKS[name];
    if (!check || !check(value)) return "invalid_event";
  }
  // An error's kind and origin only come with its time.
  if (event.k === "outcome" && !("em" in event) && ("ek" in event || "eo" in event)) return "invalid_event";
  return null;
}

/** Return null when `batch` is a valid v1 batch (visitor check aside), else an error code. */
export function validateBatch(batch) {
  if (batch === null || typeof batch !== "object" || Array.isArray(batch)) return "invalid_batch";
  for (const name of Object.keys(batch)) {
    if (!BATCH_FIELDS.includes(name)) return "invalid_batch";
  }
  if (batch.v !== SCHEMA_VERSION) return "invalid_batch";
  if (!isToken(batch.vid) || !isToken(batch.sid) || !isToken(batch.pvid)) return "invalid_batch";
  if (!isInt(batch.seq, 0, MAX_SEQ) || !isInt(batch.t0, MIN_T0, MAX_T0)) return "invalid_batch";
  if (!isPath(batch.path)) return "invalid_batch";
  if (!Array.isArray(batch.events) || batch.events.length < MIN_EVENTS_PER_BATCH) return "invalid_batch";
  if (batch.events.length > MAX_EVENTS_PER_BATCH) return "too_many_events";
  for (const event of batch.events) {
    const error = validateEvent(event);
    if (error) return error;
  }
  if (jsonBytes(batch) > MAX_BATCH_BYTES) return "too_large";
  return null;
}

/** Return the UTF-8 size of `value` serialized as JSON. */
export function jsonBytes(value) {
  const text = JSON.stringify(value);
  return new TextEncoder().encode(text).length;
}
