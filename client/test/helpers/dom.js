// A minimal hand-written DOM for the storefront modules' tests (shop, adapt, consent, dom,
// main): elements built with h(), attribute selectors, events that capture and bubble, form
// fields, a fake fetch, location and clock. It covers what those modules use and nothing
// more; a selector or property it does not know throws, so a test never passes by accident.
// Not a test file.

import { fakeClock } from "./fakes.js";

/* ------------------------------------------------------------------ events */

export class FakeEvent {
  constructor(type, init = {}) {
    this.type = type;
    this.bubbles = Boolean(init.bubbles);
    this.cancelable = Boolean(init.cancelable);
    this.defaultPrevented = false;
    this.target = null;
    this.currentTarget = null;
    this.relatedTarget = init.relatedTarget ?? null;
    this.detail = init.detail ?? 0;
    this.persisted = Boolean(init.persisted);
    this.stopped = false;
  }

  preventDefault() {
    if (this.cancelable) this.defaultPrevented = true;
  }

  stopPropagation() {
    this.stopped = true;
  }
}

export class FakeCustomEvent extends FakeEvent {
  constructor(type, init = {}) {
    super(type, init);
    this.detail = init.detail ?? null;
  }
}

class Target {
  constructor() {
    this.listeners = [];
  }

  addEventListener(type, handler, options) {
    const capture = typeof options === "boolean" ? options : Boolean(options && options.capture);
    const once = Boolean(options && typeof options === "object" && options.once);
    if (this.listeners.some((l) => l.type === type && l.handler === handler && l.capture === capture)) return;
    this.listeners.push({ type, handler, capture, once });
  }

  removeEventListener(type, handler, options) {
    const capture = typeof options === "boolean" ? options : Boolean(options && options.capture);
    this.listeners = this.listeners.filter((l) => !(l.type === type && l.handler === handler && l.capture === capture));
  }

  invoke(event, phase) {
    for (const listener of [...this.listeners]) {
      if (listener.type !== event.type) continue;
      if (phase === "capture" && !listener.capture) continue;
      if (phase === "bubble" && listener.capture) continue;
      if (listener.once) this.removeEventListener(listener.type, listener.handler, listener.capture);
      event.currentTarget = this;
      listener.handler.call(this, event);
    }
  }

  // Capture from the root down, the target, then bubble up (the DOM's order).
  dispatchEvent(event) {
    event.target = this;
    const path = [];
    for (let node = this.parentNode; node; node = node.parentNode) path.push(node);
    for (const node of [...path].reverse()) {
      if (event.stopped) break;
      node.invoke(event, "capture");
    }
    if (!event.stopped) this.invoke(event, "capture");
    if (!event.stopped) this.invoke(event, "bubble");
    if (event.bubbles) {
      for (const node of path) {
        if (event.stopped) break;
        node.invoke(event, "bubble");
      }
    }
    event.currentTarget = null;
    return !event.defaultPrevented;
  }
}

/* ------------------------------------------------------------------ selectors */

const SIMPLE = /^(?:([a-zA-Z][\w-]*|\*)|#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:([\^$*]?=)(?:"([^"]*)"|'([^']*)'|([^\]]*)))?\]|:not\(([^)]*)\)|:(checked|disabled))/;

function parseCompound(text) {
  const tests = [];
  let rest = text;
  while (rest) {
    const m = SIMPLE.exec(rest);
    if (!m) throw new Error(`fake DOM: unsupported selector part ${JSON.stringify(rest)}`);
    rest = rest.slice(m[0].length);
    const [, tag, id, cls, attr, op, dq, sq, bare, not, pseudo] = m;
    if (tag) tests.push((el) => tag === "*" || el.localName === tag.toLowerCase());
    else if (id) tests.push((el) => el.getAttribute("id") === id);
    else if (cls) tests.push((el) => el.classList.contains(cls));
    else if (attr) {
      const value = dq ?? sq ?? bare;
      tests.push((el) => {
        const actual = el.getAttribute(attr);
        if (actual === null) return false;
        if (!op) return true;
        if (op === "=") return actual === value;
        if (op === "^=") return actual.startsWith(value);
        if (op === "$=") return actual.endsWith(value);
        return actual.includes(value);
      });
    } else if (not !== undefined) {
      const inner = parseCompound(not.trim());
      tests.push((el) => !inner(el));
    } else if (pseudo === "checked") tests.push((el) => el.checked === true);
    else if (pseudo === "disabled") tests.push((el) => el.disabled === true);
  }
  return (el) => tests.every((check) => check(el));
}

function splitTop(text, separator) {
  const parts = [];
  let depth = 0;
  let quote = null;
  let current = "";
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = null;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === "[" || char === "(") depth += 1;
    else if (char === "]" || char === ")") depth -= 1;
    else if (depth === 0 && separator.test(char)) {
      parts.push(current);
      current = "";
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}

// "a b > c": a list of [combinator, compound] from the right-most compound leftwards.
function parseComplex(text) {
  const tokens = splitTop(text.replace(/\s*>\s*/g, " > ").trim(), /\s/).filter(Boolean);
  const steps = [];
  let combinator = null;
  for (const token of tokens) {
    if (token === ">") {
      combinator = ">";
      continue;
    }
    steps.push({ combinator: steps.length ? combinator ?? " " : null, match: parseCompound(token) });
    combinator = null;
  }
  return (el) => matchFrom(el, steps, steps.length - 1);
}

function matchFrom(el, steps, index) {
  if (!steps[index].match(el)) return false;
  if (index === 0) return true;
  const { combinator } = steps[index];
  if (combinator === ">") return el.parentElement ? matchFrom(el.parentElement, steps, index - 1) : false;
  for (let up = el.parentElement; up; up = up.parentElement) {
    if (matchFrom(up, steps, index - 1)) return true;
  }
  return false;
}

const compiled = new Map();

function matcher(selector) {
  if (!compiled.has(selector)) {
    const list = splitTop(selector, /,/).map((part) => parseComplex(part));
    compiled.set(selector, (el) => list.some((match) => match(el)));
  }
  return compiled.get(selector);
}

/* ------------------------------------------------------------------ nodes */

export class FakeText extends Target {
  constructor(text) {
    super();
    this.nodeType = 3;
    this.data = String(text);
    this.parentNode = null;
  }

  get parentElement() {
    return this.parentNode instanceof FakeElement ? this.parentNode : null;
  }

  get textContent() {
    return this.data;
  }

  set textContent(value) {
    this.data = String(value);
  }

  remove() {
    if (this.parentNode) this.parentNode.removeChild(this);
  }
}

function camelToData(key) {
  return `data-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function dataToCamel(name) {
  return name.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
}

const REFLECTED = ["id", "type", "name", "href", "max", "min", "role", "src", "title"];

class ParentNode extends Target {
  constructor() {
    super();
    this.childNodes = [];
    this.parentNode = null;
  }

  get children() {
    return this.childNodes.filter((node) => node instanceof FakeElement);
  }

  get firstElementChild() {
    return this.children[0] ?? null;
  }

  adopt(child) {
    const node = typeof child === "object" && child !== null ? child : new FakeText(child);
    if (node.parentNode) node.parentNode.removeChild(node);
    node.parentNode = this;
    return node;
  }

  append(...children) {
    for (const child of children) this.childNodes.push(this.adopt(child));
  }

  appendChild(child) {
    this.append(child);
    return child;
  }

  prepend(...children) {
    const nodes = children.map((child) => this.adopt(child));
    this.childNodes.unshift(...nodes);
  }

  removeChild(child) {
    this.childNodes = this.childNodes.filter((node) => node !== child);
    child.parentNode = null;
    return child;
  }

  replaceChildren(...children) {
    for (const node of [...this.childNodes]) this.removeChild(node);
    this.append(...children);
  }

  contains(other) {
    for (let node = other; node; node = node.parentNode) if (node === this) return true;
    return false;
  }

  *descendants() {
    for (const child of this.children) {
      yield child;
      yield* child.descendants();
    }
  }

  querySelectorAll(selector) {
    const match = matcher(selector);
    return [...this.descendants()].filter((el) => match(el));
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  get textContent() {
    return this.childNodes.map((node) => node.textContent).join("");
  }

  set textContent(value) {
    this.replaceChildren(...(String(value) === "" ? [] : [String(value)]));
  }
}

export class FakeElement extends ParentNode {
  constructor(tag, attributes = {}) {
    super();
    this.nodeType = 1;
    this.localName = tag.toLowerCase();
    this.tagName = tag.toUpperCase();
    this.attrs = new Map();
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== null && value !== undefined && value !== false) this.attrs.set(name, value === true ? "" : String(value));
    }
    this.currentValue = null; // a form field's value once set (the attribute stays the default)
    this.currentChecked = null;
    this.scrollHeight = 0;
    this.offsetWidth = 0;
    this.ownerDocument = null;
    const element = this;
    this.dataset = new Proxy({}, {
      get: (_, key) => (typeof key === "string" ? element.getAttribute(camelToData(key)) ?? undefined : undefined),
      set: (_, key, value) => {
        element.setAttribute(camelToData(key), value);
        return true;
      },
      deleteProperty: (_, key) => {
        element.removeAttribute(camelToData(key));
        return true;
      },
      has: (_, key) => element.hasAttribute(camelToData(key)),
      ownKeys: () => [...element.attrs.keys()].filter((name) => name.startsWith("data-")).map(dataToCamel),
      getOwnPropertyDescriptor: (_, key) =>
        element.hasAttribute(camelToData(key))
          ? { value: element.getAttribute(camelToData(key)), enumerable: true, configurable: true, writable: true }
          : undefined,
    });
    this.classList = {
      contains: (name) => this.classNames().includes(name),
      add: (...names) => this.setClasses([...new Set([...this.classNames(), ...names])]),
      remove: (...names) => this.setClasses(this.classNames().filter((name) => !names.includes(name))),
      toggle: (name, force) => {
        const on = force ?? !this.classNames().includes(name);
        if (on) this.classList.add(name);
        else this.classList.remove(name);
        return on;
      },
    };
    for (const name of REFLECTED) {
      Object.defineProperty(this, name, {
        get: () => this.getAttribute(name) ?? "",
        set: (value) => this.setAttribute(name, value),
      });
    }
  }

  classNames() {
    return (this.getAttribute("class") || "").split(/\s+/).filter(Boolean);
  }

  setClasses(names) {
    this.setAttribute("class", names.join(" "));
  }

  get className() {
    return this.getAttribute("class") ?? "";
  }

  set className(value) {
    this.setAttribute("class", value);
  }

  getAttribute(name) {
    return this.attrs.has(name) ? this.attrs.get(name) : null;
  }

  setAttribute(name, value) {
    this.attrs.set(name, String(value));
  }

  removeAttribute(name) {
    this.attrs.delete(name);
  }

  hasAttribute(name) {
    return this.attrs.has(name);
  }

  get parentElement() {
    return this.parentNode instanceof FakeElement ? this.parentNode : null;
  }

  remove() {
    if (this.parentNode) this.parentNode.removeChild(this);
  }

  matches(selector) {
    return matcher(selector)(this);
  }

  closest(selector) {
    const match = matcher(selector);
    for (let node = this; node; node = node.parentElement) if (match(node)) return node;
    return null;
  }

  get hidden() {
    return this.hasAttribute("hidden");
  }

  set hidden(value) {
    if (value) this.setAttribute("hidden", "");
    else this.removeAttribute("hidden");
  }

  get disabled() {
    return this.hasAttribute("disabled");
  }

  set disabled(value) {
    if (value) this.setAttribute("disabled", "");
    else this.removeAttribute("disabled");
  }

  get value() {
    if (this.currentValue !== null) return this.currentValue;
    if (this.localName === "textarea") return this.textContent;
    if (this.localName === "select") {
      const options = this.querySelectorAll("option");
      const chosen = options.find((option) => option.hasAttribute("selected")) ?? options[0];
      return chosen ? chosen.getAttribute("value") ?? chosen.textContent : "";
    }
    return this.getAttribute("value") ?? "";
  }

  set value(value) {
    this.currentValue = String(value);
  }

  get defaultValue() {
    return this.getAttribute("value") ?? "";
  }

  get checked() {
    return this.currentChecked ?? this.hasAttribute("checked");
  }

  set checked(value) {
    this.currentChecked = Boolean(value);
  }

  get innerHTML() {
    return this.textContent; // text only: enough to save and restore a button's label
  }

  set innerHTML(value) {
    this.textContent = value;
  }

  get elements() {
    const fields = this.querySelectorAll("input, select, textarea, button");
    return { namedItem: (name) => fields.find((field) => field.getAttribute("name") === name) ?? null };
  }

  checkValidity() {
    const value = this.value;
    if (this.hasAttribute("required") && value.trim() === "") return false;
    if (this.getAttribute("type") === "email" && value && !/^[^@\s]+@[^@\s]+$/.test(value)) return false;
    return true;
  }

  reportValidity() {
    return this.checkValidity();
  }

  focus() {
    let root = this;
    while (root.parentNode) root = root.parentNode;
    root.activeElement = this;
  }

  getBoundingClientRect() {
    return { left: 0, top: 0, width: 100, height: 40, right: 100, bottom: 40, x: 0, y: 0 };
  }

  /** A pointer click: bubbles, detail 1, pageX/Y set (the tracker reads them). */
  click() {
    const event = new FakeEvent("click", { bubbles: true, cancelable: true, detail: 1 });
    Object.assign(event, { pageX: 10, pageY: 10, clientX: 10, clientY: 10 });
    return this.dispatchEvent(event);
  }
}

/** h("button", {"data-action": "add-to-cart"}, "Add", h("span", {}, "…")) */
export function h(tag, attributes = {}, ...children) {
  const element = new FakeElement(tag, attributes);
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

export class FakeDocument extends ParentNode {
  constructor() {
    super();
    this.nodeType = 9;
    this.readyState = "interactive";
    this.visibilityState = "visible";
    this.referrer = "";
    this.title = "Vitrine";
    this.activeElement = null;
    this.documentElement = new FakeElement("html");
    this.head = new FakeElement("head");
    this.body = new FakeElement("body");
    this.documentElement.append(this.head, this.body);
    this.append(this.documentElement);
  }

  createElement(tag) {
    return new FakeElement(tag);
  }

  createTextNode(text) {
    return new FakeText(text);
  }
}

/* ------------------------------------------------------------------ page */

/** A fetch that answers from `routes` ("POST /add-to-cart": (body, call) => ({status, body})). */
export function fakeFetch(routes = {}) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const method = init.method || "GET";
    const call = { method, url: String(url), headers: { ...init.headers }, body: init.body === undefined ? undefined : JSON.parse(init.body), credentials: init.credentials };
    calls.push(call);
    const route = routes[`${method} ${call.url}`];
    if (route === "offline") throw new TypeError("Failed to fetch");
    if (!route) return { ok: false, status: 404, json: async () => ({ error: "not_found", detail: `no fake route for ${method} ${call.url}` }) };
    const answer = typeof route === "function" ? await route(call.body, call) : route;
    const status = answer.status ?? 200;
    return { ok: status >= 200 && status < 300, status, json: async () => answer.body ?? null };
  };
  return { fetch, calls };
}

const ORIGIN = "https://shop.test";

/**
 * Install a page as the globals the browser modules read (document, window, fetch, Element,
 * CustomEvent, Event): `body` children built with h(), `metas` as <meta> tags. Returns the
 * handles a test drives: {document, window, clock, fetch calls, navigations, reports}.
 */
export function installPage({ path = "/", search = "", metas = {}, body = [], bodyAttributes = {}, routes = {}, state = null } = {}) {
  const clock = fakeClock();
  const document = new FakeDocument();
  for (const [name, content] of Object.entries({ "csrf-token": "csrf-token-123", ...metas })) {
    if (content !== null) document.head.append(h("meta", { name, content }));
  }
  for (const [name, value] of Object.entries(bodyAttributes)) document.body.setAttribute(name, value);
  if (state) document.body.append(h("script", { type: "application/json", id: "vitrine-state" }, JSON.stringify(state)));
  document.body.append(...body);
  const navigations = [];
  const location = {
    origin: ORIGIN,
    pathname: path,
    search,
    get href() {
      return `${ORIGIN}${this.pathname}${this.search}`;
    },
    set href(value) {
      navigations.push(["href", String(value)]);
    },
    assign: (url) => navigations.push(["assign", String(url)]),
    reload: () => navigations.push(["reload"]),
  };
  const window = new Target();
  Object.assign(window, {
    document,
    location,
    navigator: { onLine: true },
    innerWidth: 1280,
    innerHeight: 800,
    scrollX: 0,
    scrollY: 0,
    crypto: globalThis.crypto,
    URL,
    CustomEvent: FakeCustomEvent,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  });
  const { fetch, calls } = fakeFetch(routes);
  const reports = [];
  const globals = {
    document,
    window,
    fetch,
    Element: FakeElement,
    Event: FakeEvent,
    CustomEvent: FakeCustomEvent,
    console: { ...console, warn: (...args) => reports.push(args) },
  };
  for (const [name, value] of Object.entries(globals)) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  return { document, window, clock, calls, navigations, reports };
}

/** Let pending promise callbacks (the modules' async handlers) run. */
export async function settle(rounds = 5) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Fire a bubbling, cancelable event of `type` on `target`; returns the event. */
export function fire(target, type, fields = {}) {
  const event = new FakeEvent(type, { bubbles: true, cancelable: true });
  Object.assign(event, fields);
  target.dispatchEvent(event);
  return event;
}
