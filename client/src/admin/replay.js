// /admin/sessions/<id>: rrweb-player over the stored chunks, persona changes and adaptation
// exposures as custom events (markers on the time bar) and listed beside it; or, with
// ?live=1, rrweb's live mode fed by the /admin namespace's `replay:<sid>` room.
//
// The replay is rebuilt by rrweb inside its own iframe, sandboxed "allow-same-origin" only:
// recorded pages never run scripts here.

import { el, moneyFromCents } from "../dom.js";
import { clockTime, duration, getJSON, personaChip, subscribe, vendorGlobal } from "./common.js";
import { SIGNAL_LABELS } from "./frustration.js";

const TAGS = { persona: "#7c3aed", exposure: "#d97706", frustration: "#dc2626" };
const LIVE_DELAY_MS = 1000; // play this far behind the newest event we have
const root = document.querySelector("[data-replay-player]");
const status = document.querySelector("[data-replay-status]");
const summary = document.querySelector("[data-replay-summary]");
const markerList = document.querySelector("[data-replay-markers]");
const sid = root.dataset.sessionId;
const api = `/admin/api/sessions/${encodeURIComponent(sid)}/replay`;

let player = null;
let firstTs = 0;

function setState(state, text) {
  root.dataset.state = state;
  status.textContent = text;
}

function renderSummary(session) {
  const facts = [
    ["Visitor", el("span", { className: "mono", text: session.vid || "—" })],
    ["Started", clockTime(session.started_at)],
    ["Duration", duration(session.duration_s)],
    ["Pages", session.pages.join(" → ") || "—"],
    ["Persona", personaChip(session.persona)],
    ["Arm", session.arm || "—"],
    ["Converted", session.converted ? "Yes" : "No"],
  ];
  if (session.order_cents) facts.push(["Order value", moneyFromCents(session.order_cents)]);
  summary.replaceChildren(...facts.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", {}, value)]));
}

function markerText(marker) {
  if (marker.kind === "persona") return `Persona → ${marker.label}${marker.confidence ? ` (${Math.round(marker.confidence * 100)} %)` : ""}`;
  if (marker.kind === "frustration") {
    const where = marker.anchor ? ` on ${marker.anchor}` : ` on ${marker.page}`;
    const error = marker.error ? ` (${marker.error.kind} from ${marker.error.origin})` : "";
    return `${SIGNAL_LABELS[marker.label] || marker.label}${where}${error}`;
  }
  return `Adaptation shown: ${marker.label}`;
}

function markerItem(marker) {
  const offset = firstTs ? Math.max(0, marker.t - firstTs) : 0;
  const text = markerText(marker);
  const button = el("button", { type: "button", className: "marker", "data-marker": marker.kind, "data-offset": offset, disabled: !player },
    el("span", { className: "marker__time", text: firstTs ? duration(offset / 1000) : clockTime(marker.at) }), ` ${text}`);
  button.addEventListener("click", () => player && player.goto(offset, false));
  const item = el("li", { "data-marker-kind": marker.kind, "data-marker-label": marker.label }, button);
  if (marker.reasons && marker.reasons.length) item.append(el("ul", { className: "marker__reasons" }, marker.reasons.map((reason) => el("li", { text: reason }))));
  return item;
}

function renderMarkers(markers) {
  markerList.replaceChildren(...markers.map(markerItem));
  if (!markers.length) markerList.append(el("li", { className: "muted", text: "No persona change, adaptation or frustration signal recorded." }));
}

/** Markers as rrweb custom events (type 5), kept inside the recording's time span. */
export function withMarkers(events, markers) {
  const first = events[0].timestamp;
  const last = events[events.length - 1].timestamp;
  const custom = markers.map((marker) => ({
    type: 5,
    timestamp: Math.min(last, Math.max(first + 1, marker.t)),
    data: { tag: marker.kind, payload: { label: marker.label, at: marker.at } },
  }));
  return [...events, ...custom].sort((a, b) => a.timestamp - b.timestamp);
}

async function showRecording(data) {
  if (data.events.length < 2) {
    setState("empty", "No recording for this session (not sampled, or the shopper declined tracking).");
    return;
  }
  const vendor = await vendorGlobal("/vendor/rrweb-player.min.js", "rrwebPlayer");
  const Player = vendor.Player || vendor.default || vendor;
  firstTs = data.events[0].timestamp;
  const width = Math.max(320, root.clientWidth);
  player = new Player({
    target: root,
    props: { events: withMarkers(data.events, data.markers), width, height: Math.round(width * 0.6), tags: TAGS, autoPlay: false, skipInactive: true, mouseTail: false },
  });
  renderMarkers(data.markers);
  window.vitrineReplay = { player, firstTs, markers: data.markers };
  setState("ready", `${data.events.length} events recorded.`);
}

function fit(stage, frame, dimension) {
  const scale = Math.min(1, stage.clientWidth / dimension.width);
  frame.style.transform = `scale(${scale})`;
  frame.style.transformOrigin = "0 0";
  stage.style.height = `${Math.ceil(dimension.height * scale)}px`;
}

async function watchLive() {
  const rrweb = await vendorGlobal("/vendor/rrweb.min.js", "rrweb");
  const seen = new Set();
  const early = [];
  let replayer = null;
  let received = 0;
  const take = (chunk) => {
    const id = `${chunk.pvid}:${chunk.seq}`;
    if (chunk.sid !== sid || seen.has(id)) return;
    seen.add(id);
    received += chunk.events.length;
    root.dataset.liveEvents = String(received);
    if (replayer) for (const event of chunk.events) replayer.addEvent(event);
    else early.push(...chunk.events);
  };
  const markers = [];
  // Join the room first, then read the history: nothing falls in between (duplicates are skipped).
  const ack = await subscribe({ channel: "replay", sid }, {
    replay: take,
    marker: (marker) => {
      markers.push({ ...marker, t: Date.parse(marker.at) });
      renderMarkers(markers);
    },
  });
  if (!ack || !ack.ok) {
    setState("error", `Live view refused: ${(ack && ack.error) || "no answer"}`);
    return;
  }
  const data = await getJSON(api);
  renderSummary(data.session);
  markers.push(...data.markers);
  renderMarkers(markers);
  for (const id of data.chunks) seen.add(id);
  const history = [...data.events, ...early].sort((a, b) => a.timestamp - b.timestamp);
  received += history.length;
  const stage = el("div", { className: "live-stage" });
  const frame = el("div", { className: "live-frame" });
  stage.append(frame);
  root.replaceChildren(stage);
  replayer = new rrweb.Replayer([], { root: frame, liveMode: true, mouseTail: false, UNSAFE_replayCanvas: false });
  replayer.on("resize", (dimension) => fit(stage, frame, dimension));
  const newest = history.length ? history[history.length - 1].timestamp : Date.now() - data.clock_offset_ms;
  replayer.startLive(newest - LIVE_DELAY_MS);
  for (const event of history) replayer.addEvent(event);
  root.dataset.liveEvents = String(received);
  window.vitrineReplay = { replayer, live: true };
  setState("live", "Live: following the shopper a few seconds behind.");
  document.querySelector("[data-replay-recorded]").hidden = false;
}

async function main() {
  const live = new URLSearchParams(window.location.search).get("live") === "1";
  try {
    if (live) {
      await watchLive();
      return;
    }
    const data = await getJSON(api);
    renderSummary(data.session);
    document.querySelector("[data-replay-live]").hidden = !data.live;
    await showRecording(data);
    if (!player) renderMarkers(data.markers);
  } catch (error) {
    setState("error", `Could not load the replay: ${error.message}`);
  }
}

main();
