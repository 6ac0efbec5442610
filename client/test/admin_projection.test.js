// Heatmap projection in the browser: the same numbers as tests/unit/test_heatmap_projection.py.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  addBins,
  emptyHeat,
  matchesFilters,
  placeClicks,
  placeMoves,
  projectAnchorCell,
  projectPageCell,
  scrollBands,
  scrollShares,
} from "../src/admin/projection.js";

const BUTTON = '[data-product-id="p012"] [data-action="add-to-cart"]';
const AT_1280 = { left: 812, top: 436, width: 180, height: 44 };
const AT_1920 = { left: 1290, top: 402, width: 220, height: 48 };

function inside(box, [x, y]) {
  return x >= box.left && x <= box.left + box.width && y >= box.top && y <= box.top + box.height;
}

test("an anchor cell lands on the same button at 1280 and 1920 px", () => {
  // Cell (6, 12): a click 30 % across and 60 % down the button, recorded at 1920 px.
  assert.deepEqual(projectAnchorCell(AT_1280, 6, 12), [870.5, 463.5]);
  assert.deepEqual(projectAnchorCell(AT_1920, 6, 12), [1361.5, 432]);
  for (const box of [AT_1280, AT_1920]) {
    assert.ok(inside(box, projectAnchorCell(box, 0, 0)));
    assert.ok(inside(box, projectAnchorCell(box, 19, 19)));
  }
});

test("a page cell scales x with the drawing width and keeps y", () => {
  assert.deepEqual(projectPageCell(50, 20, 1280), [646.4, 410]);
  assert.deepEqual(projectPageCell(50, 20, 1920).map((v) => Math.round(v * 10) / 10), [969.6, 410]);
});

test("clicks go on their anchors when the page has them, page cells otherwise", () => {
  const heat = addBins(emptyHeat(), {
    total: 4,
    page: [[50, 20, 3], [10, 5, 1]],
    anchors: [
      { selector: BUTTON, cells: [[6, 12, 3]] },
      { selector: "#gone", cells: [[10, 10, 1]] },
    ],
    grid: { page_x_bins: 100, page_y_px: 20, anchor_bins: 20 },
  });
  const locate = (selector) => (selector === BUTTON ? AT_1280 : null);
  const placed = placeClicks(heat, locate, 1280);
  assert.equal(placed.onAnchors, 3);
  assert.equal(placed.missing, 1);
  assert.equal(placed.fallbackShare, 0.25);
  assert.deepEqual(placed.points[0], [870.5, 463.5, 3]);
  // The page cells carry the missing quarter only.
  assert.deepEqual(placed.points.slice(1).map((p) => p[2]), [0.75, 0.25]);

  const everywhere = placeClicks(heat, () => AT_1920, 1920);
  assert.equal(everywhere.fallbackShare, 0);
  assert.equal(everywhere.points.length, 2, "no page cells when every anchor was found");
  assert.ok(everywhere.points.every((point) => inside(AT_1920, point)));
});

test("an invisible anchor (zero size) counts as missing", () => {
  const heat = addBins(emptyHeat(), { total: 1, page: [[1, 1, 1]], anchors: [{ selector: BUTTON, cells: [[0, 0, 1]] }] });
  const placed = placeClicks(heat, () => ({ left: 0, top: 0, width: 0, height: 0 }), 1280);
  assert.equal(placed.missing, 1);
  assert.equal(placed.points.length, 1);
});

test("live deltas add up with what was loaded", () => {
  const heat = addBins(emptyHeat(), { total: 1, page: [[1, 1, 1]], anchors: [{ selector: "#a", cells: [[2, 2, 1]] }] });
  addBins(heat, { total: 2, page: [[1, 1, 2]], anchors: [{ selector: "#a", cells: [[2, 2, 1], [3, 3, 1]] }] });
  assert.equal(heat.total, 3);
  assert.equal(heat.page.get("1:1"), 3);
  assert.equal(heat.anchors.get("#a").get("2:2"), 2);
  assert.deepEqual(placeMoves(heat, 1000).points, [[15, 30, 3]]);
});

test("scroll shares and bands", () => {
  const { views, depths } = scrollShares({ 0: 4, 1: 4, 10: 2, 20: 1 });
  assert.equal(views, 4);
  assert.equal(depths[10].share, 0.5);
  const bands = scrollBands(depths, 2000);
  assert.equal(bands.length, 20);
  assert.deepEqual(bands[0], { top: 0, bottom: 100, share: 1 });
  assert.equal(bands[9].share, 0.5);
  assert.equal(bands[19].bottom, 2000);
});

test("filters decide which live deltas apply", () => {
  const meta = { path: "/product/p012", kind: "click", vc: "desktop", persona: "explorer", arm: "treatment", day: "2026-11-26" };
  assert.ok(matchesFilters(meta, { page: "/product/p012", kind: "click" }));
  assert.ok(!matchesFilters(meta, { page: "/product/p013", kind: "click" }));
  assert.ok(!matchesFilters(meta, { page: "/product/p012", kind: "move" }));
  assert.ok(!matchesFilters(meta, { page: "/product/p012", viewport_class: "mobile" }));
  assert.ok(matchesFilters(meta, { page: "/product/p012", persona: "explorer", arm: "treatment" }));
  assert.ok(!matchesFilters(meta, { page: "/product/p012", to: "2026-11-25" }));
});
