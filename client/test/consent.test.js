// consent.js: the banner and the privacy page send the shopper's choice and make the
// tracker, the recorder, the transport and the adaptations follow it, through the objects
// main.js hands over (no window global).
import { test } from "node:test";
import assert from "node:assert/strict";

import { applyConsent, startConsent } from "../src/consent.js";
import { fire, h, installPage, settle } from "./helpers/dom.js";

function fakeServices({ trackerStarts = true } = {}) {
  const log = [];
  return {
    log,
    tracker: { start: () => (log.push("tracker.start"), trackerStarts), stop: (options) => log.push(["tracker.stop", options]) },
    recorder: { start: async () => log.push("recorder.start"), stop: (options) => log.push(["recorder.stop", options]) },
    transport: { discard: () => log.push("transport.discard") },
  };
}

const REPLY = (analytics, personalization, extra = {}) => ({
  state: analytics ? "granted" : "denied", analytics, personalization, source: "choice",
  recorded: { analytics, personalization, at: null }, ...extra,
});

function consentPage({ routes = {}, body, services = fakeServices() } = {}) {
  const page = installPage({
    metas: { "vitrine-consent": "ask" },
    bodyAttributes: { "data-persona": "hurried" },
    routes,
    body: body ?? [h("div", { "data-consent-banner": "" },
      h("label", {}, h("input", { type: "checkbox", "data-consent-choice": "analytics" })),
      h("label", {}, h("input", { type: "checkbox", "data-consent-choice": "personalization" })),
      h("button", { "data-action": "consent-accept" }, "Accept"),
      h("button", { "data-action": "consent-decline" }, "Decline"),
      h("button", { "data-action": "consent-save" }, "Save"))],
  });
  const adapts = [];
  page.document.addEventListener("vitrine:adapt", (event) => adapts.push(event.detail));
  startConsent(services);
  return { ...page, ...services, adapts, $: (s) => page.document.querySelector(s) };
}

const consentMeta = (page) => page.$('meta[name="vitrine-consent"]').getAttribute("content");

test("accept records both choices from the banner and starts the tracker, then the recorder", async () => {
  const page = consentPage({ routes: { "POST /api/consent": (body) => ({ body: REPLY(body.analytics, body.personalization) }) } });
  page.$('[data-action="consent-accept"]').click();
  assert.equal(page.$('[data-action="consent-accept"]').disabled, true, "one answer at a time");
  await settle();
  const post = page.calls[0];
  assert.deepEqual([post.method, post.url, post.body], ["POST", "/api/consent", { analytics: true, personalization: true, where: "banner" }]);
  assert.equal(post.headers["X-CSRF-Token"], "csrf-token-123");
  assert.deepEqual(page.log, ["tracker.start", "recorder.start"]);
  assert.equal(consentMeta(page), "granted");
  assert.equal(page.$("[data-consent-banner]"), null, "the banner goes");
  assert.equal(page.$("[data-toast] span").textContent, "Your choices are saved.");
  assert.equal(page.document.body.dataset.persona, "hurried", "personalization kept: the persona stays");
  assert.deepEqual(page.adapts, []);
});

test("decline stops and discards everything recorded, and takes the adaptations down", async () => {
  const page = consentPage({ routes: { "POST /api/consent": { body: REPLY(false, false) } } });
  page.$('[data-action="consent-decline"]').click();
  await settle();
  assert.deepEqual(page.calls[0].body, { analytics: false, personalization: false, where: "banner" });
  assert.deepEqual(page.log, [["recorder.stop", { discard: true }], ["tracker.stop", { discard: true }], "transport.discard"]);
  assert.equal(consentMeta(page), "denied");
  assert.equal(page.document.body.dataset.persona, "unknown");
  assert.deepEqual(page.adapts, [{ persona: "unknown", reasons: [], adaptations: [] }]);
  assert.equal(page.$("[data-toast] span").textContent, "Nothing will be recorded.");
});

test("the privacy page saves what its boxes say and describes the result", async () => {
  const page = consentPage({
    routes: { "POST /api/consent": (body) => ({ body: REPLY(body.analytics, body.personalization, { state: "granted" }) }) },
    body: [h("form", { "data-privacy-form": "" },
      h("input", { type: "checkbox", "data-consent-choice": "analytics", checked: true }),
      h("input", { type: "checkbox", "data-consent-choice": "personalization" }),
      h("button", { "data-action": "consent-save" }, "Save"),
      h("p", { "data-consent-status": "" }))],
  });
  const click = fire(page.$('[data-action="consent-save"]'), "click");
  assert.equal(click.defaultPrevented, true);
  await settle();
  assert.deepEqual(page.calls[0].body, { analytics: true, personalization: false, where: "settings" });
  assert.deepEqual(page.log, ["tracker.start", "recorder.start"]);
  assert.deepEqual(page.adapts, [{ persona: "unknown", reasons: [], adaptations: [] }], "no personalization: adaptations off");
  assert.equal(page.$("[data-consent-status]").textContent, "Analytics on, personalization off.");
  assert.equal(page.$('[data-consent-choice="analytics"]').checked, true);
  assert.equal(page.$('[data-consent-choice="personalization"]').checked, false);
});

test("under Do-Not-Track the tracker refuses to start, and so the recorder never starts", () => {
  const page = consentPage({ services: fakeServices({ trackerStarts: false }) });
  applyConsent(REPLY(true, true), page);
  assert.deepEqual(page.log, ["tracker.start"]);
});

test("a failed save changes nothing and says so", async () => {
  const page = consentPage({ routes: { "POST /api/consent": { status: 403, body: { error: "csrf_failed", detail: "bad token" } } } });
  page.$('[data-action="consent-accept"]').click();
  await settle();
  assert.deepEqual(page.log, []);
  assert.equal(consentMeta(page), "ask");
  assert.ok(page.$("[data-consent-banner]"));
  assert.equal(page.$('[data-action="consent-accept"]').disabled, false);
  assert.equal(page.$("[data-toast] span").textContent, "Your session has expired. Please reload the page.");
});

function erasePage(answer) {
  return consentPage({
    routes: { "DELETE /api/me": answer },
    body: [h("section", {},
      h("button", { "data-action": "erase-my-data" }, "Erase my data"),
      h("div", { "data-erase-confirm": "", hidden: true },
        h("button", { "data-action": "erase-confirm" }, "Yes, erase"),
        h("button", { "data-action": "erase-cancel" }, "Cancel")))],
  });
}

test("erasing asks first, then deletes with the CSRF token, stops everything and reloads the privacy page", async () => {
  const page = erasePage({ status: 204 });
  page.$('[data-action="erase-my-data"]').click();
  assert.equal(page.$("[data-erase-confirm]").hidden, false);
  page.$('[data-action="erase-cancel"]').click();
  assert.equal(page.$("[data-erase-confirm]").hidden, true);
  assert.deepEqual(page.calls, []);
  page.$('[data-action="erase-my-data"]').click();
  page.$('[data-action="erase-confirm"]').click();
  await settle();
  assert.deepEqual([page.calls[0].method, page.calls[0].url, page.calls[0].headers["X-CSRF-Token"]], ["DELETE", "/api/me", "csrf-token-123"]);
  assert.deepEqual(page.log, [["recorder.stop", { discard: true }], ["tracker.stop", { discard: true }], "transport.discard"]);
  assert.equal(consentMeta(page), "ask");
  assert.deepEqual(page.navigations, [["assign", "/privacy?erased=1"]]);
});

test("a failed erasure keeps tracking as it was and gives the button back", async () => {
  const page = erasePage({ status: 503 });
  page.$('[data-action="erase-my-data"]').click();
  page.$('[data-action="erase-confirm"]').click();
  await settle();
  assert.deepEqual(page.log, []);
  assert.deepEqual(page.navigations, []);
  assert.equal(page.$('[data-action="erase-confirm"]').disabled, false);
  assert.equal(page.$("[data-toast] span").textContent, "Your data could not be erased. Please try again.");
});

test("applyConsent copes with missing collaborators (a page where nothing was wired)", () => {
  installPage({ metas: { "vitrine-consent": "ask" } });
  assert.doesNotThrow(() => applyConsent(REPLY(false, false)));
  assert.doesNotThrow(() => applyConsent(REPLY(true, true), {}));
});
