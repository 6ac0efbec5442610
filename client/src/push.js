// Server pushes applied to the page. The transport delivers "persona" and "adapt" messages
// (transport.on); main.js hands them to these functions, which write the DOM contract
// (`<body data-persona>`, docs DESIGN §5) and re-dispatch them as CustomEvents on `document`
// for the adaptation layer (adapt.js). Nothing here knows the socket.

const PERSONA_RE = /^[a-z_]{1,40}$/;

function dispatch(doc, type, detail, EventCtor) {
  if (!doc || typeof doc.dispatchEvent !== "function" || typeof EventCtor !== "function") return;
  doc.dispatchEvent(new EventCtor(type, { detail }));
}

/**
 * A "persona" push (`"hurried"` or `{persona, reasons, …}`): set `body[data-persona]` when the
 * id is well formed, and dispatch "vitrine:persona" with the payload as `detail`.
 */
export function applyPersona(doc, data, EventCtor = globalThis.CustomEvent) {
  const detail = typeof data === "string" ? { persona: data } : data && typeof data === "object" ? data : null;
  if (!detail) return;
  const body = doc && doc.body;
  if (body && body.dataset && typeof detail.persona === "string" && PERSONA_RE.test(detail.persona)) {
    body.dataset.persona = detail.persona;
  }
  dispatch(doc, "vitrine:persona", detail, EventCtor);
}

/** An "adapt" push: dispatch "vitrine:adapt" with the payload (or null) as `detail`. */
export function applyAdapt(doc, data, EventCtor = globalThis.CustomEvent) {
  dispatch(doc, "vitrine:adapt", data === undefined ? null : data, EventCtor);
}
