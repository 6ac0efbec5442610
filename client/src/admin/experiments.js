// /admin/experiments: the charts above the tables, drawn with Observable Plot from
// /admin/api/experiments — cumulative uplift per persona, a forest plot of uplift per
// persona × metric, and the sample-ratio check — redrawn every 30 s, when the summary is.
//
// Shaping the report into chart rows is pure and exported (client/test/experiments_charts.test.js);
// drawing starts only in a browser page that has the chart containers.

import { el } from "../dom.js";
import { getJSON, vendorGlobal } from "./common.js";

export const API = "/admin/api/experiments";
export const REFRESH_MS = 30_000; // the summary job's period: polling faster shows nothing new
// Plot's UMD build reads the global `d3`, so d3 is loaded first.
const D3_SCRIPT = "/vendor/d3.min.js";
const PLOT_SCRIPT = "/vendor/plot.min.js";

// Display units: a conversion uplift is a difference of proportions (shown in percentage
// points), money is stored in cents (shown in euros).
export const METRICS = {
  conversion_rate: { label: "Conversion rate", unit: "pp", scale: 100 },
  revenue_per_visitor_cents: { label: "Revenue per visitor", unit: "€", scale: 0.01 },
  aov_cents: { label: "Average order value", unit: "€", scale: 0.01 },
};

// The admin.css persona colours; grey for a row with no verdict, red for a sample-ratio mismatch.
export const COLORS = {
  explorer: "#2a7ab0",
  hurried: "#c2571a",
  bargain_hunter: "#2e8540",
  unknown: "#8a94a3",
  not_qualified: "#5f6b7a",
  all: "#1d232b",
};
export const NO_VERDICT = "#8a94a3";
export const MISMATCH = "#b3261e";
export const SPLIT_OK = "#1f5f5b";
const HOLLOW = "#ffffff";
const ZERO = "#5f6b7a";

const CORRECTIONS = { holm: "the Holm correction", bh: "the Benjamini–Hochberg correction" };

function scaled(x, factor) {
  return typeof x === "number" && Number.isFinite(x) ? x * factor : null;
}

function labelsOf(report) {
  const labels = { all: "All visitors" };
  for (const row of report.personas || []) labels[row.persona] = row.label || row.persona;
  return labels;
}

/** "always-valid 95 % interval" or "fixed-horizon 95 % interval": the interval in force. */
export function intervalKind(report) {
  const level = `${Math.round((report.confidence ?? 0.95) * 100)} %`;
  return `${report.analysis === "fixed" ? "fixed-horizon" : "always-valid"} ${level} interval`;
}

/** Format an uplift in display units: "+1.2 pp", "−€0.35". */
export function formatUplift(value, metric) {
  if (value === null || value === undefined) return "—";
  const sign = value < 0 ? "−" : "+";
  const size = Math.abs(value);
  return METRICS[metric].unit === "pp" ? `${sign}${size.toFixed(1)} pp` : `${sign}€${size.toFixed(2)}`;
}

export function formatP(p) {
  if (typeof p !== "number") return "p —";
  return p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`;
}

/** One entry per series: the points that have a value for `metric`, in display units. */
export function cumulativeSeries(report, metric) {
  const labels = labelsOf(report);
  const { scale } = METRICS[metric];
  return (report.series || []).map(({ persona, points }) => ({
    persona,
    label: labels[persona] || persona,
    points: (points || []).flatMap((point) => {
      const estimate = point[metric] || {};
      const value = scaled(estimate.value, scale);
      if (value === null) return []; // early on there is no estimate yet: skipped, not zero
      return [{ persona, at: new Date(point.at), visitors: point.visitors, value, low: scaled(estimate.low, scale), high: scaled(estimate.high, scale) }];
    }),
  }));
}

/**
 * The y range of one cumulative chart: zero, every value, and the latest interval. Early
 * always-valid intervals are far wider than the effect, so the band is cut at this range
 * rather than squashing the line flat.
 */
export function cumulativeDomain(points) {
  const last = points[points.length - 1] || {};
  const values = [0, ...points.map((point) => point.value), last.low, last.high].filter(Number.isFinite);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const pad = (high - low) * 0.15 || 1;
  return [low - pad, high + pad];
}

/** Forest plot rows (triggered personas and "all") × metric; rows with no value are `omitted`. */
export function forestRows(report) {
  const rows = [];
  const omitted = [];
  for (const row of report.personas || []) {
    if (row.group !== "triggered" && row.persona !== "all") continue;
    for (const [metric, { scale }] of Object.entries(METRICS)) {
      const estimate = (row.uplift || {})[metric] || {};
      const value = scaled(estimate.value, scale);
      if (value === null) {
        omitted.push({ persona: row.persona, label: row.label, metric });
        continue;
      }
      // Significance is shown only where the row has a verdict; otherwise it is grey and hollow.
      const verdict = row.state === "verdict";
      const significant = verdict && Boolean(estimate.significant_adjusted);
      const color = verdict ? COLORS[row.persona] || COLORS.unknown : NO_VERDICT;
      rows.push({
        persona: row.persona, label: row.label, metric, value, state: row.state, verdict, significant,
        low: scaled(estimate.low, scale), high: scaled(estimate.high, scale),
        p: estimate.p_adjusted ?? null, stroke: color, fill: significant ? color : HOLLOW,
      });
    }
  }
  return { rows, omitted };
}

/** The sample-ratio picture: every visitor, then each persona row; rows with no split are `missing`. */
export function srmRows(report) {
  const rows = [];
  const missing = [];
  const add = (key, label, srm) => {
    if (!srm || typeof srm.observed_control_share !== "number") {
      missing.push(label);
      return;
    }
    rows.push({
      key, label, observed: srm.observed_control_share, expected: srm.expected_control_share,
      p: srm.p ?? null, mismatch: Boolean(srm.mismatch), treatment: srm.treatment, control: srm.control,
      fill: srm.mismatch ? MISMATCH : SPLIT_OK,
    });
  };
  add("overall", "Every visitor", report.srm);
  for (const row of report.personas || []) {
    if (row.persona === "all") continue; // the same visitors as the overall split
    add(row.persona, row.label, row.srm);
  }
  return { rows, missing };
}

// ---- drawing (browser only) ----

function rendered(figure, attributes) {
  for (const [key, value] of Object.entries(attributes)) figure.dataset[key] = String(value);
  figure.dataset.rendered = "true";
}

/** Boxes first, so each plot can be as wide as the box the grid gave it. */
function panels(body, items, make) {
  const boxes = items.map((item) => make(item));
  body.replaceChildren(...boxes.map(([box]) => box));
  for (const [box, draw] of boxes) if (draw) box.append(draw(Math.max(240, box.clientWidth)));
}

function drawCumulative(Plot, figure, report, metric) {
  const { label, unit } = METRICS[metric];
  const series = cumulativeSeries(report, metric);
  let points = 0;
  let drawn = 0;
  panels(figure.querySelector("[data-chart-body]"), series, (entry) => {
    const box = el("div", { className: "exp-chart-panel", "data-persona": entry.persona, "data-points": entry.points.length }, el("h3", { text: entry.label }));
    if (!entry.points.length) {
      box.append(el("p", { className: "muted", text: "No estimate yet." }));
      return [box, null];
    }
    points += entry.points.length;
    drawn += 1;
    const color = COLORS[entry.persona] || COLORS.unknown;
    const last = entry.points[entry.points.length - 1];
    return [box, (width) => Plot.plot({
      width, height: 190, marginLeft: 48,
      ariaLabel: `${label} uplift over time, ${entry.label}`,
      ariaDescription: `Latest: ${formatUplift(last.value, metric)} after ${last.visitors} visitors.`,
      x: { type: "utc", label: null, ticks: 4 },
      y: { label: unit === "pp" ? "uplift (pp)" : "uplift (€)", grid: true, nice: true, domain: cumulativeDomain(entry.points) },
      marks: [
        Plot.areaY(entry.points, { x: "at", y1: "low", y2: "high", fill: color, fillOpacity: 0.18, clip: true }),
        Plot.ruleY([0], { stroke: ZERO }),
        Plot.lineY(entry.points, { x: "at", y: "value", stroke: color, strokeWidth: 2 }),
        Plot.dot([last], { x: "at", y: "value", fill: color, r: 3.5, title: (d) => `${formatUplift(d.value, metric)} after ${d.visitors} visitors` }),
      ],
    })];
  });
  if (!series.length) figure.querySelector("[data-chart-body]").replaceChildren(el("p", { className: "muted", text: "No experiment data yet." }));
  rendered(figure, { points, series: drawn, metric });
}

function drawForest(Plot, figure, report) {
  const { rows, omitted } = forestRows(report);
  const labels = (report.personas || []).filter((row) => row.group === "triggered" || row.persona === "all").map((row) => row.label);
  panels(figure.querySelector("[data-chart-body]"), Object.entries(METRICS), ([metric, spec]) => {
    const data = rows.filter((row) => row.metric === metric);
    const box = el("div", { className: "exp-chart-panel", "data-metric": metric, "data-points": data.length }, el("h3", { text: `${spec.label} (${spec.unit})` }));
    return [box, (width) => Plot.plot({
      width, height: 50 + 34 * labels.length, marginLeft: 110, marginRight: 16,
      ariaLabel: `${spec.label} uplift per persona`,
      x: { label: spec.unit === "pp" ? "uplift (pp)" : "uplift (€)", grid: true, nice: true },
      y: { domain: labels, label: null },
      color: { type: "identity" }, // the rows carry their own colours (verdict, significance)
      marks: [
        Plot.ruleX([0], { stroke: ZERO }),
        Plot.ruleY(data, { y: "label", x1: "low", x2: "high", stroke: "stroke", strokeWidth: 2 }),
        Plot.dot(data, { x: "value", y: "label", r: 5, stroke: "stroke", fill: "fill", strokeWidth: 2, title: (d) => `${d.label}: ${formatUplift(d.value, metric)} [${formatUplift(d.low, metric)}, ${formatUplift(d.high, metric)}]${d.verdict ? (d.significant ? ", significant" : ", not significant") : ` (${d.state.replace("_", " ")})`}` }),
      ],
    })];
  });
  if (!labels.length) figure.querySelector("[data-chart-body]").replaceChildren(el("p", { className: "muted", text: "No experiment data yet." }));
  const note = figure.querySelector("[data-chart-note]");
  note.textContent = omitted.length ? `Not drawn, no estimate yet: ${omitted.map((o) => `${o.label} · ${METRICS[o.metric].label}`).join("; ")}.` : "";
  rendered(figure, { points: rows.length, omitted: omitted.length, significant: rows.filter((r) => r.significant).length });
}

function drawSrm(Plot, figure, report) {
  const { rows, missing } = srmRows(report);
  const body = figure.querySelector("[data-chart-body]");
  const shares = rows.flatMap((row) => [row.observed, row.expected]);
  // Room to the right of the largest share, so a bar and its expected tick both show.
  const top = Math.min(1, Math.max(0.05, ...shares) * 1.3);
  panels(body, rows.length ? [rows] : [], (data) => [el("div", { className: "exp-chart-panel exp-chart-panel--wide" }), (width) => Plot.plot({
    width, height: 40 + 30 * data.length, marginLeft: 120, marginRight: 210,
    ariaLabel: "Control share per row against the expected share",
    x: { domain: [0, top * 100], percent: true, label: "control share (%)", grid: true }, // percent: the domain is in %
    y: { domain: data.map((row) => row.label), label: null, padding: 0.3 },
    color: { type: "identity" },
    marks: [
      Plot.barX(data, { x: "observed", y: "label", fill: "fill", title: (d) => `${d.label}: control ${(d.observed * 100).toFixed(1)} % (expected ${(d.expected * 100).toFixed(1)} %), ${formatP(d.p)}` }),
      Plot.tickX(data, { x: "expected", y: "label", stroke: "#1d232b", strokeWidth: 2 }),
      Plot.text(data, { y: "label", frameAnchor: "right", textAnchor: "start", dx: 8, fill: (d) => (d.mismatch ? MISMATCH : "#1d232b"), text: (d) => `${formatP(d.p)} · control ${d.control} of ${d.treatment + d.control}${d.mismatch ? " · mismatch" : ""}` }),
    ],
  })]);
  if (!rows.length) body.replaceChildren(el("p", { className: "muted", text: "No visitors yet." }));
  figure.querySelector("[data-chart-note]").textContent = rows.length && missing.length ? `No visitors yet: ${missing.join(", ")}.` : "";
  rendered(figure, { points: rows.length, mismatches: rows.filter((r) => r.mismatch).length });
}

function captions(root, report) {
  const kind = intervalKind(report);
  for (const node of root.querySelectorAll("[data-interval-kind]")) node.textContent = kind;
  const correction = CORRECTIONS[report.correction];
  for (const node of root.querySelectorAll("[data-correction]")) {
    node.textContent = correction ? `significant after ${correction} across personas × metrics` : "its interval leaves out zero (no multiple-comparison correction)";
  }
}

async function main(root) {
  const status = root.querySelector("[data-charts-status]");
  const metricSelect = root.querySelector("[data-chart-metric]");
  const figure = (name) => root.querySelector(`[data-chart="${name}"]`);
  let Plot = null;
  let report = null;

  const draw = () => {
    if (!Plot || !report) return;
    captions(root, report);
    drawCumulative(Plot, figure("cumulative"), report, metricSelect.value);
    drawForest(Plot, figure("forest"), report);
    drawSrm(Plot, figure("srm"), report);
    root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
  };

  const refresh = async () => {
    try {
      report = await getJSON(API);
      draw();
      const aa = report.mode === "aa" ? " A/A check: neither arm is adapted, so any uplift is noise." : "";
      status.textContent = `Charts drawn ${new Date().toLocaleTimeString()}; summary ${report.computed_at ? `computed ${report.computed_at.slice(11, 19)} UTC` : "not computed yet"}.${aa}`;
    } catch (error) {
      root.dataset.error = error.message;
      status.textContent = `Could not draw the charts: ${error.message}`;
    }
  };

  try {
    await vendorGlobal(D3_SCRIPT, "d3");
    Plot = await vendorGlobal(PLOT_SCRIPT, "Plot");
  } catch (error) {
    root.dataset.error = error.message;
    status.textContent = `Could not load the chart library: ${error.message}`;
    return;
  }
  metricSelect.addEventListener("change", () => report && drawCumulative(Plot, figure("cumulative"), report, metricSelect.value));
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 200);
  });
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

if (typeof document !== "undefined") {
  const root = document.querySelector("[data-experiment-charts]");
  if (root) main(root);
}
