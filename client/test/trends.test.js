// The overview's live trends: merging pushed buckets and shaping them into chart rows
// (the drawing itself is checked in Chromium, tests/e2e/test_overview_trends.py).
import { test } from "node:test";
import assert from "node:assert/strict";

import { METRICS, bucketLabel, latest, lineRows, mergeBuckets, mixRows } from "../src/admin/trends.js";

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
const bucket = (i, fields = {}) => ({ t: T0 + i * MIN, n: 6, eps: 2 + i, shoppers: 3, shoppers_max: 4, sessions: 3, conversion: 0.25, lag: 5, mix: { explorer: 0.5, hurried: 0.25, bargain_hunter: 0, unknown: 0.25 }, ...fields });

test("a push updates the bucket being filled and appends the new one", () => {
  const held = [bucket(0), bucket(1), bucket(2, { n: 3 })];
  const { buckets, changed } = mergeBuckets(held, [bucket(2, { n: 6 }), bucket(3, { n: 1 })], T0);
  assert.equal(changed, true);
  assert.deepEqual(buckets.map((b) => [b.t, b.n]), [[T0, 6], [T0 + MIN, 6], [T0 + 2 * MIN, 6], [T0 + 3 * MIN, 1]]);
});

test("the same push again changes nothing (no redraw)", () => {
  const held = [bucket(0), bucket(1)];
  const { buckets, changed } = mergeBuckets(held, [bucket(0), bucket(1)], T0);
  assert.equal(changed, false);
  assert.equal(buckets.length, 2);
  assert.equal(mergeBuckets(held, [], T0).changed, false);
  assert.equal(mergeBuckets(held, undefined, T0).changed, false);
});

test("buckets that left the window are dropped: the page holds one window, no more", () => {
  let held = [];
  for (let i = 0; i < 500; i += 1) held = mergeBuckets(held, [bucket(i)], T0 + (i - 59) * MIN).buckets;
  assert.equal(held.length, 60);
  assert.equal(held[0].t, T0 + 440 * MIN);
  const { buckets, changed } = mergeBuckets([bucket(0), bucket(1)], [], T0 + MIN);
  assert.equal(changed, true); // the oldest left: the chart moves
  assert.deepEqual(buckets.map((b) => b.t), [T0 + MIN]);
});

test("pushed buckets arriving out of order are kept sorted", () => {
  const { buckets } = mergeBuckets([bucket(3)], [bucket(5), bucket(1)], T0);
  assert.deepEqual(buckets.map((b) => (b.t - T0) / MIN), [1, 3, 5]);
});

test("line rows sit in the middle of their bucket and break where buckets are missing", () => {
  const rows = lineRows([bucket(0), bucket(1, { eps: null }), bucket(4, { eps: 9 })], "eps", MIN);
  assert.deepEqual(rows.map((r) => [(r.t.getTime() - T0) / MIN, r.value]), [[0.5, 2], [1.5, null], [2.5, null], [4.5, 9]]);
  assert.ok(rows.every((r) => r.t instanceof Date));
  assert.deepEqual(lineRows([], "eps", MIN), []);
  assert.deepEqual(lineRows([bucket(0, { lag: undefined })], "lag", MIN).map((r) => r.value), [null]);
});

test("mix rows stack each bucket's shares bottom up, personas in a fixed order", () => {
  const rows = mixRows([bucket(0), bucket(1, { mix: null }), bucket(2, { mix: { hurried: 1 } })], MIN);
  assert.equal(rows.length, 8); // two buckets with a mix, four personas each
  const first = rows.slice(0, 4);
  assert.deepEqual(first.map((r) => r.persona), ["explorer", "hurried", "bargain_hunter", "unknown"]);
  assert.deepEqual(first.map((r) => [r.y1, r.y2]), [[0, 0.5], [0.5, 0.75], [0.75, 0.75], [0.75, 1]]);
  assert.equal(first[0].x1.getTime(), T0);
  assert.equal(first[0].x2.getTime(), T0 + MIN);
  const last = rows.slice(4);
  assert.deepEqual(last.map((r) => r.share), [0, 1, 0, 0]);
  assert.equal(last[3].y2, 1);
});

test("the newest value skips buckets without one", () => {
  assert.equal(latest([bucket(0, { lag: 7 }), bucket(1, { lag: null })], "lag"), 7);
  assert.equal(latest([], "lag"), null);
  assert.deepEqual(latest([bucket(0)], "mix"), bucket(0).mix);
});

test("values read in their units", () => {
  assert.equal(METRICS.conversion.format(0.125), "12.5 %");
  assert.equal(METRICS.eps.format(12.345), "12.3");
  assert.equal(METRICS.mix.format({ explorer: 0.2, hurried: 0.1, bargain_hunter: 0.3, unknown: 0.4 }), "Unknown 40 %");
  assert.equal(METRICS.mix.format({ explorer: 0.5, unknown: 0.5 }), "Explorer 50 %"); // a tie: the first
  assert.equal(bucketLabel(60), "1-minute buckets");
  assert.equal(bucketLabel(300), "5-minute buckets");
  assert.equal(bucketLabel(10), "10-second buckets");
});
