// /admin: the live trends under the overview's figures, drawn with Observable Plot (as the
// experiments page is). Each window (the last hour, the last day) is read once from
// /admin/api/trends; after that, every overview push carries the window's last two buckets
// (the one filling and the one just closed), which are merged into what the page holds: the
// page keeps one window's buckets and no more, and redraws a window only when a bucket
// changed, by swapping each chart's SVG in one step (no blank frame, no flicker).
//
// Shaping buckets into chart rows is pure and exported (client/test/trends.test.js);
// drawing starts only when overview.js hands over a page and Plot.

import { el } from "../dom.js";
import { PERSONA_LABELS, getJSON, number } from "./common.js";
import { COLORS } from "./experiments.js";

export const API = "/admin/api/trends";
export const WINDOWS = ["1h", "1d"];
const PERSONAS = Object.keys(PERSONA_LABELS);
const LINE = "#1f5f5b";
const LAG = "#c2571a";
const ZERO = "#c9d1d9";

// What each chart shows: the bucket field, its axis label and how a value reads.
export const METRICS = {
  eps: { field: "eps", label: "events/s", color: LINE, format: (v) => number(v, 1), area: true },
  shoppers: { field: "shoppers", label: "shoppers", color: LINE, format: (v) => number(v, 1) },
  mix: { field: "mix", label: "share of shoppers", format: (mix) => largestShare(mix) },
  conversion: { field: "conversion", label: "converted", color: LINE, format: (v) => `${(v * 100).toFixed(1)} %`, percent: true },
  lag: { field: "lag", label: "entries", color: LAG, format: (v) => number(v), area: true },
};

/** The largest persona of a mix, "Explorer 74 %" (the chart shows the others). */
export function largestShare(mix) {
  const [persona, share] = PERSONAS.map((p) => [p, mix[p] || 0]).reduce((best, next) => (next[1] > best[1] ? next : best));
  return `${PERSONA_LABELS[persona]} ${Math.round(share * 100)} %`;
}

/** Upsert `incoming` buckets (by start `t`) into `buckets`, dropping those before `from`. */
export function mergeBuckets(buckets, incoming, from) {
  const byStart = new Map(buckets.map((b) => [b.t, b]));
  let changed = false;
  for (const bucket of incoming || []) {
    const known = byStart.get(bucket.t);
    if (!known || JSON.stringify(known) !== JSON.stringify(bucket)) {
      byStart.set(bucket.t, bucket);
      changed = true;
    }
  }
  const kept = [...byStart.values()].filter((b) => b.t >= from).sort((a, b) => a.t - b.t);
  return { buckets: kept, changed: changed || kept.length !== byStart.size };
}

/**
 * One row per bucket for a line chart, at the bucket's middle; a row with a null value
 * where buckets are missing (the sampler did not run), so the line breaks there.
 */
export function lineRows(buckets, field, bucketMs) {
  const rows = [];
  let previous = null;
  for (const bucket of buckets) {
    if (previous !== null && bucket.t - previous > bucketMs) rows.push({ t: new Date(previous + bucketMs * 1.5), value: null });
    const value = bucket[field];
    rows.push({ t: new Date(bucket.t + bucketMs / 2), value: typeof value === "number" ? value : null });
    previous = bucket.t;
  }
  return rows;
}

/** The persona mix as stacked rectangles: per bucket with a mix, one per persona, bottom up. */
export function mixRows(buckets, bucketMs) {
  const rows = [];
  for (const bucket of buckets) {
    if (!bucket.mix) continue;
    let y = 0;
    for (const persona of PERSONAS) {
      const share = bucket.mix[persona] || 0;
      rows.push({ persona, share, x1: new Date(bucket.t), x2: new Date(bucket.t + bucketMs), y1: y, y2: y + share });
      y += share;
    }
  }
  return rows;
}

/** The newest value of a field (null when no bucket has one). */
export function latest(buckets, field) {
  for (let i = buckets.length - 1; i >= 0; i -= 1) {
    const value = buckets[i][field];
    if (value !== null && value !== undefined) return value;
  }
  return null;
}

/** "1-minute buckets", "5-minute buckets", "10-second buckets". */
export function bucketLabel(seconds) {
  return seconds % 60 === 0 ? `${seconds / 60}-minute buckets` : `${seconds}-second buckets`;
}

// ---- drawing (browser only) ----

function chart(Plot, metric, state, width) {
  const spec = METRICS[metric];
  const bucketMs = state.bucket_s * 1000;
  const x = { type: "utc", domain: [new Date(state.from), new Date(state.to)], label: null, ticks: 4 };
  const base = { width, height: 130, marginLeft: 46, marginRight: 12, marginTop: 10, marginBottom: 22, x, style: { overflow: "visible" } };
  if (metric === "mix") {
    const rows = mixRows(state.buckets, bucketMs);
    return [rows.length / PERSONAS.length, Plot.plot({ // points: the buckets drawn
      ...base, ariaLabel: `Persona mix, ${state.window}`,
      y: { domain: [0, 100], percent: true, label: null, ticks: 2 }, // percent: the domain is in %
      color: { type: "identity" },
      marks: [
        Plot.rect(rows, { x1: "x1", x2: "x2", y1: "y1", y2: "y2", fill: (d) => COLORS[d.persona], insetLeft: 0.5, title: (d) => `${PERSONA_LABELS[d.persona]}: ${Math.round(d.share * 100)} %` }),
        Plot.ruleY([0], { stroke: ZERO }),
      ],
    })];
  }
  const rows = lineRows(state.buckets, spec.field, bucketMs);
  const values = rows.filter((r) => r.value !== null);
  const top = Math.max(spec.percent ? 0.05 : 1, ...values.map((r) => r.value));
  const marks = [Plot.ruleY([0], { stroke: ZERO })];
  if (spec.area) marks.push(Plot.areaY(rows, { x: "t", y: "value", fill: spec.color, fillOpacity: 0.14 }));
  marks.push(Plot.lineY(rows, { x: "t", y: "value", stroke: spec.color, strokeWidth: 1.6 }));
  if (values.length) marks.push(Plot.dot([values[values.length - 1]], { x: "t", y: "value", fill: spec.color, r: 2.5, title: (d) => spec.format(d.value) }));
  return [values.length, Plot.plot({
    ...base, ariaLabel: `${spec.label}, ${state.window}`,
    // percent: the domain is in % (the values stay shares)
    y: { domain: [0, top * 1.1 * (spec.percent ? 100 : 1)], label: null, ticks: 3, grid: true, percent: Boolean(spec.percent) },
    marks,
  })];
}

export class TrendCharts {
  constructor(root, Plot) {
    this.root = root;
    this.Plot = Plot;
    this.status = root.querySelector("[data-trends-status]");
    this.windows = {}; // name -> {window, from, to, bucket_s, buckets}
    this.pending = null; // a push that came before the windows were read
  }

  /** Read both windows whole (at start, and after a reconnect: pushes may have been missed). */
  async load() {
    const answers = await Promise.all(WINDOWS.map((name) => getJSON(`${API}?window=${name}`)));
    for (const answer of answers) this.windows[answer.window] = answer;
    this.root.dataset.fetches = String(Number(this.root.dataset.fetches || 0) + 1);
    for (const name of WINDOWS) this.draw(name);
    if (this.pending) this.applyTail(this.pending);
    this.pending = null;
  }

  /** Merge an overview push's newest buckets; redraw only the windows that changed. */
  applyTail(tail) {
    if (!tail || !tail.windows) return;
    if (!WINDOWS.every((name) => this.windows[name])) {
      this.pending = tail;
      return;
    }
    let redrawn = false;
    for (const name of WINDOWS) {
      const update = tail.windows[name];
      if (!update) continue;
      const state = this.windows[name];
      const merged = mergeBuckets(state.buckets, update.buckets, update.from);
      const moved = update.to !== state.to;
      Object.assign(state, { from: update.from, to: update.to, buckets: merged.buckets });
      if (merged.changed || moved) {
        this.draw(name);
        redrawn = true;
      }
    }
    if (redrawn) this.root.dataset.updates = String(Number(this.root.dataset.updates || 0) + 1);
    if (tail.at) this.status.textContent = `Newest point ${new Date(tail.at).toISOString().slice(11, 19)} UTC.`;
    else this.status.textContent = "No points yet: the sampler records one every few seconds.";
  }

  draw(name) {
    const state = this.windows[name];
    if (!state) return;
    for (const note of this.root.querySelectorAll(`[data-bucket-note="${name}"]`)) note.textContent = bucketLabel(state.bucket_s);
    for (const figure of this.root.querySelectorAll(`[data-trend][data-window="${name}"]`)) {
      const metric = figure.dataset.trend;
      const body = figure.querySelector("[data-trend-body]");
      const [points, svg] = chart(this.Plot, metric, state, Math.max(240, body.clientWidth));
      body.replaceChildren(svg); // one swap: the old chart stays until the new one is in
      const value = latest(state.buckets, METRICS[metric].field);
      figure.querySelector("[data-trend-latest]").textContent = value === null ? "—" : METRICS[metric].format(value);
      Object.assign(figure.dataset, { rendered: "true", points: String(points), buckets: String(state.buckets.length), draws: String(Number(figure.dataset.draws || 0) + 1) });
      figure.dataset.latest = value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
    }
  }

  redraw() {
    for (const name of WINDOWS) this.draw(name);
  }
}

/** The legend of the persona mix, in the admin colours. */
export function mixLegend() {
  return PERSONAS.map((persona) => {
    const swatch = el("span", { className: "trend-legend__swatch" });
    swatch.style.background = COLORS[persona];
    return el("li", { "data-persona": persona }, swatch, el("span", { text: PERSONA_LABELS[persona] }));
  });
}
