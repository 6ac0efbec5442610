// /admin: the overview, read once from the API, then pushed every ~2 s over /admin; the
// live trends (./trends.js) are read once per window and grow with each push.

import { el, moneyFromCents, report } from "../dom.js";
import { PERSONA_LABELS, adminSocket, getJSON, number, personaChip, subscribe, vendorGlobal } from "./common.js";
import { SIGNALS, SIGNAL_LABELS, signalBadges } from "./frustration.js";
import { TrendCharts, mixLegend } from "./trends.js";

const status = document.querySelector("[data-overview-status]");
const PERSONAS = Object.keys(PERSONA_LABELS);
// Plot's UMD build reads the global `d3`, so d3 is loaded first (as on the experiments page).
const D3_SCRIPT = "/vendor/d3.min.js";
const PLOT_SCRIPT = "/vendor/plot.min.js";
let trends = null;

function metric(name, value, note) {
  const card = document.querySelector(`[data-metric="${name}"]`);
  card.querySelector("[data-metric-value]").textContent = value;
  if (note !== undefined) card.querySelector("[data-metric-note]").textContent = note;
}

function bars(which, counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const list = document.querySelector(`[data-bars="${which}"]`);
  list.replaceChildren(
    ...PERSONAS.map((persona) => {
      const n = counts[persona] || 0;
      const share = total ? n / total : 0;
      const bar = el("span", { className: `bar bar--${persona}` });
      bar.style.width = `${Math.round(share * 100)}%`;
      return el("li", { "data-persona-count": persona, "data-count": n }, personaChip(persona), el("span", { className: "bar-track" }, bar), el("span", { className: "panel__value", text: `${n} · ${Math.round(share * 100)} %` }));
    }),
  );
}

function conversion(table) {
  const body = document.querySelector("[data-conversion-body]");
  const rows = PERSONAS.filter((persona) => table[persona]).map((persona) => {
    const row = table[persona];
    return el("tr", { "data-persona": persona }, el("td", {}, personaChip(persona)), el("td", { className: "num", text: row.sessions }), el("td", { className: "num", text: row.converted }), el("td", { className: "num", text: `${(row.rate * 100).toFixed(1)} %` }), el("td", { className: "num", text: moneyFromCents(row.revenue_cents) }));
  });
  body.replaceChildren(...rows);
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 5, className: "muted", text: "No sessions in the last 24 hours." })));
}

function struggle(summary) {
  const totals = document.querySelector("[data-struggle-totals]");
  const body = document.querySelector("[data-struggle-body]");
  if (!summary) return;
  totals.replaceChildren(
    ...SIGNALS.flatMap((kind) => [el("dt", { text: SIGNAL_LABELS[kind] }), el("dd", { "data-signal-total": kind, text: number(summary.totals[kind]) })]),
  );
  const rows = summary.pages.map((row) => {
    const link = el("a", { href: `/admin/heatmap?page=${encodeURIComponent(row.page)}&kind=frustration`, text: row.page });
    const rate = row.per_100_views === null ? "—" : row.per_100_views.toFixed(1);
    const badges = signalBadges(row.counts).map((badge) => el("span", { className: "badge badge--fx", "data-signal": badge.kind, text: badge.text }));
    return el(
      "tr",
      { "data-struggle-page": row.page, "data-signals": row.signals },
      el("td", {}, link),
      el("td", { className: "num", text: number(row.views) }),
      el("td", { className: "num", text: row.ranked ? rate : `${rate} (few views)` }),
      el("td", {}, ...badges),
    );
  });
  body.replaceChildren(...rows);
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 4, className: "muted", text: "No frustration signals today or yesterday." })));
}

function workerState(p) {
  const workers = Object.entries(p.workers || {});
  const stalled = workers.filter(([, w]) => w && w.stalled).map(([name, w]) => `${name}: ${w.reason}`);
  if (p.backpressure) stalled.push("ingest answers busy (backlog at its bound)");
  if (stalled.length) return `stalled: ${stalled.join("; ")}`;
  return workers.length ? `ok (${workers.map(([name]) => name).join(", ")})` : "—";
}

function pipeline(p) {
  const stream = p.stream || {};
  const flusher = p.flusher || {};
  const facts = [
    ["Stream length", number(stream.stream_length)],
    ["Not yet read by the flusher", number(stream.lag)],
    ["Read, not acknowledged", number(stream.pending)],
    ["Since the last flush", flusher.seconds_since_flush === null || flusher.seconds_since_flush === undefined ? "—" : `${flusher.seconds_since_flush} s`],
    ["Last flush round", flusher.last_round_ms === undefined ? "—" : `${flusher.last_round_ms} ms`],
    ["Persona predictions", number(p.personas && p.personas.predictions)],
    ["Replay chunks stored", number(p.replay && p.replay.accepted)],
    ["Workers", workerState(p)],
    ["Shopper connections", number(p.connections)],
  ];
  document.querySelector("[data-pipeline]").replaceChildren(...facts.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
  metric("pipeline-lag", number((stream.lag || 0) + (stream.pending || 0)), `${number(stream.stream_length)} in the stream`);
}

function render(snapshot) {
  metric("active-shoppers", number(snapshot.active.shoppers));
  metric("sessions-24h", number(snapshot.last_24h.sessions));
  metric("events-per-second", number(snapshot.pipeline.events_per_second, 1));
  bars("now", snapshot.personas_now);
  bars("day", snapshot.last_24h.personas);
  conversion(snapshot.last_24h.conversion);
  struggle(snapshot.struggle);
  pipeline(snapshot.pipeline);
  if (trends) trends.applyTail(snapshot.trends);
  status.textContent = `Updated ${new Date(snapshot.at).toLocaleTimeString()}`;
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

/** The trend charts: Plot, both windows, then pushes; a reconnect reads the windows again. */
async function startTrends(root) {
  const trendStatus = root.querySelector("[data-trends-status]");
  for (const legend of root.querySelectorAll("[data-trend-legend]")) legend.replaceChildren(...mixLegend());
  try {
    await vendorGlobal(D3_SCRIPT, "d3");
    const charts = new TrendCharts(root, await vendorGlobal(PLOT_SCRIPT, "Plot"));
    trends = charts; // pushes from here on are kept until the windows are read
    await charts.load();
    const socket = await adminSocket();
    let lost = false;
    socket.on("disconnect", () => {
      lost = true;
    });
    socket.on("connect", () => {
      if (lost) charts.load().catch((error) => report("trends reload", error));
      lost = false;
    });
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => charts.redraw(), 200);
    });
  } catch (error) {
    root.dataset.error = error.message;
    trendStatus.textContent = `Could not draw the trends: ${error.message}`;
  }
}

async function main() {
  const trendRoot = document.querySelector("[data-trends]");
  if (trendRoot) startTrends(trendRoot);
  try {
    render(await getJSON("/admin/api/overview"));
    const ack = await subscribe({ channel: "overview" }, { overview: render });
    if (!ack || !ack.ok) status.textContent = "Live updates unavailable; reload to refresh.";
  } catch (error) {
    status.textContent = `Could not load the overview: ${error.message}`;
  }
}

main();
