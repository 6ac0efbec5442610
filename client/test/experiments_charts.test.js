// /admin/experiments charts: shaping the API's report into chart rows (the drawing is e2e).
import { test } from "node:test";
import assert from "node:assert/strict";

import { COLORS, MISMATCH, NO_VERDICT, SPLIT_OK, cumulativeDomain, cumulativeSeries, forestRows, formatP, formatUplift, intervalKind, srmRows } from "../src/admin/experiments.js";

const NONE = { value: null, low: null, high: null, p: null, p_adjusted: null, significant: false, significant_adjusted: false };
const est = (value, low, high, extra = {}) => ({ ...NONE, value, low, high, ...extra });
const srm = (treatment, control, mismatch = false, p = 0.5) => ({
  treatment, control, expected_control_share: 0.1,
  observed_control_share: treatment + control ? control / (treatment + control) : null,
  chi2: 0.1, p, mismatch,
});
const row = (persona, label, group, state, uplift, split) => ({
  persona, label, label_fr: label, group, state,
  arms: { treatment: { visitors: 90, converters: 9 }, control: { visitors: 10, converters: 1 } },
  uplift, srm: split,
});

// A hand-written report in the contract's shape (GET /admin/api/experiments).
const REPORT = {
  computed_at: "2026-12-02T01:00:00+00:00", confidence: 0.95, mode: "ab", analysis: "sequential",
  correction: "holm", holdout_fraction: 0.1, planned_visitors: 2000,
  srm: srm(900, 100),
  personas: [
    row("explorer", "Explorer", "triggered", "verdict",
      { conversion_rate: est(0.05, 0.01, 0.09, { significant_adjusted: true }), aov_cents: est(-120, -900, 660), revenue_per_visitor_cents: est(35, -10, 80) }, srm(300, 34)),
    row("hurried", "Hurried", "triggered", "too_small",
      { conversion_rate: est(0.2, -0.3, 0.7, { significant_adjusted: true }), aov_cents: NONE, revenue_per_visitor_cents: est(10, null, null) }, srm(20, 0, true, 0.0001)),
    row("bargain_hunter", "Bargain hunter", "triggered", "not_yet",
      { conversion_rate: NONE, aov_cents: NONE, revenue_per_visitor_cents: NONE }, srm(0, 0)),
    row("not_qualified", "Not qualified", "not_qualified", "verdict",
      { conversion_rate: est(0.0, -0.02, 0.02), aov_cents: NONE, revenue_per_visitor_cents: NONE }, srm(560, 66)),
    row("all", "All visitors", "itt", "verdict",
      { conversion_rate: est(0.01, -0.01, 0.03), aov_cents: est(50, -200, 300), revenue_per_visitor_cents: est(4, -2, 10) }, srm(900, 100)),
  ],
  series: [
    { persona: "explorer", points: [
      { at: "2026-12-02T00:00:00+00:00", visitors: 10, conversion_rate: NONE, aov_cents: NONE, revenue_per_visitor_cents: NONE },
      { at: "2026-12-02T00:30:00+00:00", visitors: 150, conversion_rate: est(0.04, -0.02, 0.1), aov_cents: NONE, revenue_per_visitor_cents: est(20, -30, 70) },
      { at: "2026-12-02T01:00:00+00:00", visitors: 334, conversion_rate: est(0.05, 0.01, 0.09), aov_cents: est(-120, -900, 660), revenue_per_visitor_cents: est(35, -10, 80) },
    ] },
    { persona: "hurried", points: [] },
    { persona: "all", points: [{ at: "2026-12-02T01:00:00+00:00", visitors: 1000, conversion_rate: est(0.01, -0.01, 0.03), aov_cents: NONE, revenue_per_visitor_cents: NONE }] },
  ],
  exposures: [], unattributed_orders: 0,
};

test("the caption names the interval in force", () => {
  assert.equal(intervalKind(REPORT), "always-valid 95 % interval");
  assert.equal(intervalKind({ ...REPORT, analysis: "fixed" }), "fixed-horizon 95 % interval");
  assert.equal(intervalKind({ ...REPORT, confidence: 0.9 }), "always-valid 90 % interval");
});

test("cumulative series: one per entry, null points skipped, values in display units", () => {
  const series = cumulativeSeries(REPORT, "conversion_rate");
  assert.deepEqual(series.map((s) => [s.persona, s.label, s.points.length]), [["explorer", "Explorer", 2], ["hurried", "Hurried", 0], ["all", "All visitors", 1]]);
  const [first, second] = series[0].points;
  assert.ok(first.at instanceof Date);
  assert.equal(first.visitors, 150);
  assert.ok(Math.abs(first.value - 4) < 1e-9 && Math.abs(first.low + 2) < 1e-9 && Math.abs(second.high - 9) < 1e-9);
  const money = cumulativeSeries(REPORT, "revenue_per_visitor_cents")[0].points;
  assert.deepEqual(money.map((p) => Math.round(p.value * 100)), [20, 35]);
  assert.equal(cumulativeSeries(REPORT, "aov_cents")[0].points.length, 1);
  assert.deepEqual(cumulativeSeries({ personas: [] }, "aov_cents"), []);
});

test("the cumulative range holds zero, every value and the latest interval, not the early ones", () => {
  const points = [{ value: 3, low: -80, high: 90 }, { value: 5, low: 1, high: 9 }];
  const [low, high] = cumulativeDomain(points);
  assert.ok(low < 0 && low > -3 && high > 9 && high < 12, `${low} ${high}`);
  assert.deepEqual(cumulativeDomain([{ value: 0, low: null, high: null }]), [-1, 1]);
});

test("forest rows: triggered personas and all, one per metric with a value; the rest omitted", () => {
  const { rows, omitted } = forestRows(REPORT);
  assert.deepEqual(rows.map((r) => `${r.persona}:${r.metric}`), [
    "explorer:conversion_rate", "explorer:revenue_per_visitor_cents", "explorer:aov_cents",
    "hurried:conversion_rate", "hurried:revenue_per_visitor_cents",
    "all:conversion_rate", "all:revenue_per_visitor_cents", "all:aov_cents",
  ]);
  assert.deepEqual(omitted.map((o) => `${o.persona}:${o.metric}`), ["hurried:aov_cents", "bargain_hunter:conversion_rate", "bargain_hunter:revenue_per_visitor_cents", "bargain_hunter:aov_cents"]);
  const explorer = rows[0];
  assert.equal(explorer.significant, true);
  assert.equal(explorer.fill, COLORS.explorer);
  assert.ok(Math.abs(explorer.value - 5) < 1e-9);
  assert.ok(Math.abs(rows[2].value + 1.2) < 1e-9); // −120 cents → −€1.20
  assert.equal(rows[2].fill, "#ffffff"); // not significant: hollow
  // No verdict (too small): grey and hollow even though the adjusted test says significant.
  const hurried = rows[3];
  assert.equal(hurried.significant, false);
  assert.equal(hurried.stroke, NO_VERDICT);
  assert.equal(hurried.fill, "#ffffff");
  assert.equal(rows[4].low, null); // a value with no interval yet: the dot, no rule
});

test("srm rows: every visitor first, then each persona row; a mismatch is red", () => {
  const { rows, missing } = srmRows(REPORT);
  assert.deepEqual(rows.map((r) => r.key), ["overall", "explorer", "hurried", "not_qualified"]);
  assert.deepEqual(missing, ["Bargain hunter"]);
  assert.equal(rows[0].observed, 0.1);
  assert.equal(rows[0].fill, SPLIT_OK);
  assert.equal(rows[2].mismatch, true);
  assert.equal(rows[2].fill, MISMATCH);
});

test("formatting: signed uplifts in pp and euros, small p values", () => {
  assert.equal(formatUplift(1.234, "conversion_rate"), "+1.2 pp");
  assert.equal(formatUplift(-0.35, "aov_cents"), "−€0.35");
  assert.equal(formatUplift(null, "aov_cents"), "—");
  assert.equal(formatP(0.00001), "p < 0.001");
  assert.equal(formatP(0.4321), "p = 0.432");
  assert.equal(formatP(null), "p —");
});
