// Hand-written fakes for the tracker and transport tests: a tiny DOM, a clock
// with timers, a window, a storage and a Socket.IO socket. Not a test file.

export class FakeTarget {
  constructor() {
    this.listeners = new Map();
  }

  addEventListener(type, handler, options) {
    const list = this.listeners.get(type) ?? [];
    const capture = typeof options === "boolean" ? options : Boolean(options && options.capture);
    if (!list.some((entry) => entry.handler === handler && entry.capture === capture)) list.push({ handler, capture });
    this.listeners.set(type, list);
  }

  removeEventListener(type, handler, options) {
    const capture = typeof options === "boolean" ? options : Boolean(options && options.capture);
    const list = (this.listeners.get(type) ?? []).filter((entry) => !(entry.handler === handler && entry.capture === capture));
    this.listeners.set(type, list);
  }

  listenerCount(type) {
    return (this.listeners.get(type) ?? []).length;
  }

  totalListeners() {
    let total = 0;
    for (const list of this.listeners.values()) total += list.length;
    return total;
  }

  // Calls handlers directly: an exception a handler lets escape fails the test.
  dispatch(type, fields = {}) {
    const event = { type, ...fields };
    for (const { handler } of [...(this.listeners.get(type) ?? [])]) handler(event);
    return event;
  }
}

export class FakeElement {
  constructor(tag, attributes = {}, children = []) {
    this.nodeType = 1;
    this.tagName = tag.toUpperCase();
    this.attributes = { ...attributes };
    this.parentElement = null;
    this.children = [];
    this.rect = { left: 0, top: 0, width: 100, height: 40 };
    for (const child of children) this.append(child);
  }

  append(child) {
    child.parentElement = this;
    this.children.push(child);
    return child;
  }

  getAttribute(name) {
    return Object.prototype.hasOwnProperty.call(this.attributes, name) ? String(this.attributes[name]) : null;
  }

  // Only "[attr]" selectors, depth first, as the tracker asks for them.
  querySelector(selector) {
    const attribute = /^\[([\w-]+)\]$/.exec(selector);
    if (!attribute) return null;
    for (const child of this.children) {
      if (child.getAttribute(attribute[1]) !== null) return child;
      const found = child.querySelector(selector);
      if (found) return found;
    }
    return null;
  }

  getBoundingClientRect() {
    const { left, top, width, height } = this.rect;
    return { left, top, width, height, right: left + width, bottom: top + height, x: left, y: top };
  }
}

/** h("div", {"data-product-id": "p012"}, child, ...) */
export function h(tag, attributes = {}, ...children) {
  return new FakeElement(tag, attributes, children);
}

/** An element that records any attempt to read its value or text. */
export function nosyElement(tag, attributes, reads) {
  const el = new FakeElement(tag, attributes);
  for (const name of ["value", "textContent", "innerText", "innerHTML", "outerHTML", "defaultValue", "checked"]) {
    Object.defineProperty(el, name, {
      get() {
        reads.push(name);
        return "SECRET-VALUE";
      },
    });
  }
  return el;
}

export function fakeClock(start = 1_700_000_000_000) {
  let current = start;
  let timers = [];
  let nextId = 1;
  return {
    now: () => current,
    setTimeout(fn, ms = 0) {
      const id = nextId;
      nextId += 1;
      timers.push({ id, at: current + Math.max(0, Number(ms) || 0), fn });
      return id;
    },
    clearTimeout(id) {
      timers = timers.filter((timer) => timer.id !== id);
    },
    advance(ms) {
      const end = current + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.id - b.id);
        const next = timers[0];
        if (!next || next.at > end) break;
        timers.shift();
        current = next.at;
        next.fn();
      }
      current = end;
    },
    get timerCount() {
      return timers.length;
    },
  };
}

export const VID = "visitor_AbCdEfGh12345";
export const SID = "session_XyZ0987654321";
export const ORIGIN = "https://shop.test";

export function fakeDocument({ metas = {}, title = "Vitrine", referrer = "", productRoot = null, height = 3000 } = {}) {
  const doc = new FakeTarget();
  doc.title = title;
  doc.referrer = referrer;
  doc.visibilityState = "visible";
  doc.documentElement = { scrollHeight: height };
  doc.body = new FakeElement("body");
  doc.body.dataset = {};
  doc.body.scrollHeight = height;
  doc.metas = { "vitrine-vid": VID, "vitrine-sid": SID, ...metas };
  doc.productRoot = productRoot;
  doc.dispatched = [];
  doc.querySelector = (selector) => {
    const meta = /^meta\[name="([^"]+)"\]$/.exec(selector);
    if (meta) {
      const content = doc.metas[meta[1]];
      return content === undefined || content === null ? null : { getAttribute: (name) => (name === "content" ? content : null) };
    }
    if (selector === "[data-product-id][data-category]") return doc.productRoot;
    return null;
  };
  doc.dispatchEvent = (event) => {
    doc.dispatched.push(event);
    doc.dispatch(event.type, { detail: event.detail });
    return true;
  };
  return doc;
}

export function fakeWindow({ clock, path = "/", search = "", navigator = {}, width = 1280, height = 800, document } = {}) {
  const win = new FakeTarget();
  Object.assign(win, {
    innerWidth: width,
    innerHeight: height,
    scrollX: 0,
    scrollY: 0,
    location: { pathname: path, search, origin: ORIGIN, href: `${ORIGIN}${path}${search}` },
    navigator,
    crypto: globalThis.crypto,
    URL,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    document: document ?? fakeDocument(),
  });
  return win;
}

export function fakeStorage({ quotaChars = Infinity } = {}) {
  const data = new Map();
  return {
    data,
    getItem: (key) => (data.has(key) ? data.get(key) : null),
    setItem(key, value) {
      const text = String(value);
      if (text.length > quotaChars) {
        const error = new Error("QuotaExceededError");
        error.name = "QuotaExceededError";
        throw error;
      }
      data.set(key, text);
    },
    removeItem: (key) => {
      data.delete(key);
    },
    read(key) {
      return data.has(key) ? JSON.parse(data.get(key)) : null;
    },
  };
}

export class FakeSocket {
  constructor(url, options) {
    this.url = url;
    this.options = options;
    this.connected = false;
    this.handlers = {};
    this.emitted = [];
    this.onEmit = null;
  }

  on(event, handler) {
    (this.handlers[event] ??= []).push(handler);
    return this;
  }

  fire(event, ...args) {
    for (const handler of this.handlers[event] ?? []) handler(...args);
  }

  timeout(ms) {
    return {
      emit: (name, data, callback) => {
        const record = { name, data, callback, timeout: ms };
        this.emitted.push(record);
        if (this.onEmit) this.onEmit(record);
        return this;
      },
    };
  }

  emit(name, data, callback) {
    // The transport must always ask for an ack timeout: a bare emit is a bug.
    this.emitted.push({ name, data, callback, timeout: null });
    return this;
  }

  connectNow() {
    this.connected = true;
    this.fire("connect");
  }

  dropNow(reason = "transport close") {
    this.connected = false;
    this.fire("disconnect", reason);
  }

  disconnect() {
    this.connected = false;
  }
}

export function fakeIo() {
  const sockets = [];
  const calls = [];
  const io = (url, options) => {
    calls.push({ url, options });
    const socket = new FakeSocket(url, options);
    sockets.push(socket);
    return socket;
  };
  return { io, sockets, calls };
}
