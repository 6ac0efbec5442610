// Consent banner and privacy settings (docs/privacy.md). The shopper makes two choices,
// analytics (tracker events and replays) and personalization (persona and adaptations);
// they go to POST /api/consent, and the tracker, the recorder and the adaptations follow at
// once. The server renders the banner only when it has to ask, and renders
// <meta name="vitrine-consent"> from the stored choice, Do-Not-Track and GPC.
//
// `startConsent({tracker, recorder, transport})` is called by main.js, which hands it the
// page's objects: this module finds nothing through window globals.

import { $, $$, emit, on, report, toast } from "./dom.js";
import { csrfToken, errorMessage, postJSON } from "./http.js";

function setMeta(name, value) {
  const tag = document.querySelector(`meta[name="${name}"]`);
  if (tag) tag.setAttribute("content", value);
}

/**
 * Start or stop tracking, replays and adaptations to match the server's reply. `services`
 * holds the page's tracker, recorder and transport (any may be missing).
 */
export function applyConsent(reply, services = {}) {
  const { tracker, recorder, transport } = services;
  setMeta("vitrine-consent", reply.state);
  if (reply.analytics) {
    if (tracker && typeof tracker.start === "function" && tracker.start() && recorder) {
      Promise.resolve(recorder.start()).catch((error) => report("consent: recorder", error));
    }
  } else {
    if (recorder && typeof recorder.stop === "function") recorder.stop({ discard: true });
    if (tracker && typeof tracker.stop === "function") tracker.stop({ discard: true });
    try {
      // Nothing recorded so far leaves: the kept batches and waiting replay chunks go.
      if (transport && typeof transport.discard === "function") transport.discard();
    } catch (error) {
      report("consent: cleanup", error);
    }
  }
  if (!reply.personalization) {
    document.body.dataset.persona = "unknown";
    emit("vitrine:adapt", { persona: "unknown", reasons: [], adaptations: [] });
  }
}

function choicesIn(container) {
  const choice = (name) => Boolean($(`[data-consent-choice="${name}"]`, container)?.checked);
  return { analytics: choice("analytics"), personalization: choice("personalization") };
}

async function save(choices, where, services) {
  const reply = await postJSON("/api/consent", { ...choices, where });
  applyConsent(reply, services);
  $("[data-consent-banner]")?.remove();
  for (const box of $$("[data-consent-choice]")) box.checked = Boolean(reply.recorded?.[box.dataset.consentChoice]);
  const status = $("[data-consent-status]");
  if (status) status.textContent = describe(reply);
  return reply;
}

function describe(reply) {
  const word = (value) => (value ? "on" : "off");
  const when = reply.recorded?.at ? ` (chosen ${new Date(reply.recorded.at).toLocaleString()})` : "";
  const signal = reply.source === "dnt" || reply.source === "gpc"
    ? " Your browser asks not to be tracked, so both stay off." : "";
  return `Analytics ${word(reply.analytics)}, personalization ${word(reply.personalization)}${when}.${signal}`;
}

function whereOf(button) {
  return button.closest("[data-consent-banner]") ? "banner" : "settings";
}

async function handle(button, choices, services) {
  button.disabled = true;
  try {
    const reply = await save(choices, whereOf(button), services);
    toast(reply.analytics || reply.personalization ? "Your choices are saved." : "Nothing will be recorded.");
  } catch (error) {
    report("consent: save", error);
    toast(errorMessage(error));
  } finally {
    button.disabled = false;
  }
}

async function eraseMyData(button, services) {
  button.disabled = true;
  try {
    const response = await fetch("/api/me", {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    applyConsent({ state: "ask", analytics: false, personalization: false }, services);
    window.location.assign("/privacy?erased=1");
  } catch (error) {
    report("consent: erase", error);
    toast("Your data could not be erased. Please try again.");
    button.disabled = false;
  }
}

/** Bind the banner's and the privacy page's buttons (delegated on `document`). */
export function startConsent(services = {}) {
  on("click", '[data-action="consent-accept"]', (event, button) =>
    handle(button, { analytics: true, personalization: true }, services));
  on("click", '[data-action="consent-decline"]', (event, button) =>
    handle(button, { analytics: false, personalization: false }, services));
  on("click", '[data-action="consent-save"]', (event, button) => {
    event.preventDefault();
    const container = button.closest("[data-consent-banner], [data-privacy-form]") || document;
    return handle(button, choicesIn(container), services);
  });
  on("click", '[data-action="erase-my-data"]', () => {
    const confirm = $("[data-erase-confirm]");
    if (confirm) confirm.hidden = false;
  });
  on("click", '[data-action="erase-cancel"]', () => {
    const confirm = $("[data-erase-confirm]");
    if (confirm) confirm.hidden = true;
  });
  on("click", '[data-action="erase-confirm"]', (event, button) => eraseMyData(button, services));
}
