// /admin/sessions: the sessions list with filters and pagination (GET /admin/api/sessions).

import { el, moneyFromCents } from "../dom.js";
import { clockTime, duration, getJSON, personaChip } from "./common.js";
import { signalBadges } from "./frustration.js";

const FIELDS = ["persona", "arm", "converted", "signal", "from", "to", "vid"];
const form = document.querySelector("[data-sessions-form]");
const body = document.querySelector("[data-sessions-body]");
const status = document.querySelector("[data-sessions-status]");
const label = document.querySelector("[data-page-label]");
const prev = document.querySelector('[data-page="prev"]');
const next = document.querySelector('[data-page="next"]');
// Analysts see the list but not replays (the server refuses them too).
const canReplay = document.body.dataset.adminRole === "admin";

let page = 1;

function query() {
  const params = new URLSearchParams();
  const data = new FormData(form);
  for (const field of FIELDS) {
    const value = String(data.get(field) || "").trim();
    if (value) params.set(field, value);
  }
  if (page > 1) params.set("page", String(page));
  return params;
}

function timeline(row) {
  const steps = row.persona_timeline.length ? row.persona_timeline : [{ persona: row.persona }];
  const list = el("ol", { className: "timeline", "aria-label": "Persona changes" });
  for (const step of steps) {
    const chip = personaChip(step.persona);
    if (step.at) chip.title = `${clockTime(step.at)}${step.confidence ? ` · confidence ${Math.round(step.confidence * 100)} %` : ""}`;
    list.append(el("li", {}, chip));
  }
  return list;
}

function signalCell(row) {
  const badges = signalBadges(row.frustration).map((badge) => el("span", { className: "badge badge--fx", "data-signal": badge.kind, "data-count": badge.n, text: badge.text }));
  return el("td", { "data-signals": badges.length ? "1" : null }, ...(badges.length ? badges : [el("span", { className: "muted", text: "—" })]));
}

function sessionRow(row) {
  const replay = canReplay
    ? el("a", { href: `/admin/sessions/${encodeURIComponent(row.session_id)}${row.live ? "?live=1" : ""}`, className: "abtn abtn--small", text: row.live ? "Watch live" : "Replay" })
    : el("span", { className: "muted", text: "—" });
  return el(
    "tr",
    { "data-session-id": row.session_id, "data-live": row.live ? "1" : null },
    el("td", { className: "mono", title: row.vid }, row.vid ? `${row.vid.slice(0, 10)}…` : "—", row.live ? el("span", { className: "badge badge--live", text: "live" }) : null),
    el("td", { text: clockTime(row.started_at) }),
    el("td", { className: "num", text: duration(row.duration_s) }),
    el("td", { className: "num", title: row.pages.join("\n"), text: row.page_views }),
    el("td", {}, timeline(row)),
    el("td", { text: row.arm || "—" }),
    el("td", { text: row.converted ? "Yes" : "No" }),
    signalCell(row),
    el("td", { className: "num", text: moneyFromCents(row.order_cents) }),
    el("td", {}, replay),
  );
}

async function load() {
  const params = query();
  history.replaceState(null, "", `?${params}`);
  status.textContent = "Loading…";
  const started = performance.now();
  try {
    const data = await getJSON(`/admin/api/sessions?${params}`);
    body.replaceChildren(...data.sessions.map(sessionRow));
    if (!data.sessions.length) body.append(el("tr", {}, el("td", { colspan: 10, className: "muted", text: "No sessions match these filters." })));
    label.textContent = `Page ${data.page}`;
    prev.disabled = data.page <= 1;
    next.disabled = !data.has_more;
    status.textContent = `${data.sessions.length} sessions · ${Math.round(performance.now() - started)} ms`;
    document.body.dataset.state = "ready";
  } catch (error) {
    status.textContent = `Could not load sessions: ${error.message}`;
  }
}

function fillForm(params) {
  for (const field of FIELDS) {
    const input = form.elements.namedItem(field);
    if (input && params.get(field) !== null) input.value = params.get(field);
  }
  page = Math.max(1, Number(params.get("page")) || 1);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  page = 1;
  load();
});
prev.addEventListener("click", () => {
  page = Math.max(1, page - 1);
  load();
});
next.addEventListener("click", () => {
  page += 1;
  load();
});
fillForm(new URLSearchParams(window.location.search));
load();
