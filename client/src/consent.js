// Consent banner and privacy settings (docs/privacy.md). The shopper makes two choices,
// analytics (tracker events and replays) and personalization (persona and adaptations);
// they go to POST /api/consent, and the tracker, the recorder and the adaptations follow at
// once. The server renders the banner only when it has to ask, and renders
// <meta name="vitrine-consent"> from the stored choice, Do-Not-Track and GPC.

import { $, $$, emit, on, ready, report, toast } from "./dom.js";
import { errorMessage, postJSON } from "./shop.js";

const PENDING_KEY = "vitrine:pending"; // the transport's unacknowledged batches

function setMeta(name, value) {
  const tag = document.querySelector(`meta[name="${name}"]`);
  if (tag) tag.setAttribute("content", value);
}

/** Start or stop tracking, replays and adaptations to match the server's reply. */
export function applyConsent(reply, win = window) {
  setMeta("vitrine-consent", reply.state);
  const tracker = win.vitrineTracker;
  const recorder = win.vitrineRecorder;
  if (reply.analytics) {
    if (tracker && typeof tracker.start === "function" && tracker.start() && recorder) {
      Promise.resolve(recorder.start()).catch((error) => report("consent: recorder", error));
    }
  } else {
    if (recorder && typeof recorder.stop === "function") recorder.stop({ discard: true });
    if (tracker && typeof tracker.stop === "function") tracker.stop({ discard: true });
    try {
      tracker?.transport?.socket?.disconnect();
      win.sessionStorage?.removeItem(PENDING_KEY);
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

async function save(choices, where) {
  const reply = await postJSON("/api/consent", { ...choices, where });
  applyConsent(reply);
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

async function handle(button, choices) {
  button.disabled = true;
  try {
    const reply = await save(choices, whereOf(button));
    toast(reply.analytics || reply.personalization ? "Your choices are saved." : "Nothing will be recorded.");
  } catch (error) {
    report("consent: save", error);
    toast(errorMessage(error));
  } finally {
    button.disabled = false;
  }
}

async function eraseMyData(button) {
  button.disabled = true;
  try {
    const response = await fetch("/api/me", {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": $('meta[name="csrf-token"]')?.getAttribute("content") || "" },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    applyConsent({ state: "ask", analytics: false, personalization: false });
    window.location.assign("/privacy?erased=1");
  } catch (error) {
    report("consent: erase", error);
    toast("Your data could not be erased. Please try again.");
    button.disabled = false;
  }
}

ready(() => {
  on("click", '[data-action="consent-accept"]', (event, button) =>
    handle(button, { analytics: true, personalization: true }));
  on("click", '[data-action="consent-decline"]', (event, button) =>
    handle(button, { analytics: false, personalization: false }));
  on("click", '[data-action="consent-save"]', (event, button) => {
    event.preventDefault();
    const container = button.closest("[data-consent-banner], [data-privacy-form]") || document;
    return handle(button, choicesIn(container));
  });
  on("click", '[data-action="erase-my-data"]', () => {
    const confirm = $("[data-erase-confirm]");
    if (confirm) confirm.hidden = false;
  });
  on("click", '[data-action="erase-cancel"]', () => {
    const confirm = $("[data-erase-confirm]");
    if (confirm) confirm.hidden = true;
  });
  on("click", '[data-action="erase-confirm"]', (event, button) => eraseMyData(button));
});
