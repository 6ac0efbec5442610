// push.js: the server's "persona" and "adapt" pushes applied to the page (the DOM contract).
import { test } from "node:test";
import assert from "node:assert/strict";

import { applyAdapt, applyPersona } from "../src/push.js";
import { installPage } from "./helpers/dom.js";

function page() {
  const handles = installPage({ bodyAttributes: { "data-persona": "unknown", "data-arm": "treatment" } });
  const seen = [];
  handles.document.addEventListener("vitrine:persona", (event) => seen.push(["persona", event.detail]));
  handles.document.addEventListener("vitrine:adapt", (event) => seen.push(["adapt", event.detail]));
  return { ...handles, seen };
}

test("a persona push sets body[data-persona] and is re-dispatched as vitrine:persona", () => {
  const { document, seen } = page();
  applyPersona(document, { persona: "bargain_hunter", confidence: 0.82, reasons: ["sorted by discount"] });
  assert.equal(document.body.getAttribute("data-persona"), "bargain_hunter");
  assert.equal(document.body.getAttribute("data-arm"), "treatment", "the arm is the server's, untouched");
  applyPersona(document, "hurried");
  assert.equal(document.body.dataset.persona, "hurried", "a bare id is accepted too");
  assert.deepEqual(seen, [
    ["persona", { persona: "bargain_hunter", confidence: 0.82, reasons: ["sorted by discount"] }],
    ["persona", { persona: "hurried" }],
  ]);
});

test("a malformed persona never reaches the DOM, and junk is ignored", () => {
  const { document, seen } = page();
  applyPersona(document, { persona: "<img onerror=x>" });
  applyPersona(document, { persona: "x".repeat(41) });
  assert.equal(document.body.dataset.persona, "unknown");
  assert.equal(seen.length, 2, "still dispatched: adapt.js reads only what it knows");
  applyPersona(document, null);
  applyPersona(document, 42);
  assert.equal(seen.length, 2);
  assert.doesNotThrow(() => applyPersona(null, "hurried"));
});

test("an adapt push becomes vitrine:adapt with the payload (or null)", () => {
  const { document, seen } = page();
  applyAdapt(document, { persona: "hurried", adaptations: [{ name: "sticky-cart" }] });
  applyAdapt(document, undefined);
  assert.deepEqual(seen, [["adapt", { persona: "hurried", adaptations: [{ name: "sticky-cart" }] }], ["adapt", null]]);
});
