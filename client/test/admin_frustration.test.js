// The console's frustration layer and badges (client/src/admin/frustration.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import { placeSignals, signalBadges } from "../src/admin/frustration.js";

const GRID = { page_x_bins: 100, page_y_px: 20, anchor_bins: 20 };
const HERO = { left: 100, top: 50, width: 400, height: 200 };

function layers(overrides) {
  const empty = { page: [], anchors: [] };
  return { grid: GRID, layers: { rage: empty, dead: empty, error: empty, quick_back: empty, thrash: empty, ...overrides } };
}

test("a click signal lands on its element when the page has it", () => {
  const data = layers({ dead: { page: [[2, 18, 1]], anchors: [{ selector: "#hero", cells: [[2, 18, 1]]}] } });
  const { points, placed } = placeSignals(data, (selector) => (selector === "#hero" ? HERO : null), 1280);
  assert.deepEqual(points, [{ kind: "dead", x: 100 + (2.5 / 20) * 400, y: 50 + (18.5 / 20) * 200, n: 1 }]);
  assert.deepEqual(placed, { dead: 1 });
});

test("a click signal whose element is missing falls back to its page position", () => {
  const data = layers({ rage: { page: [[24, 21, 2]], anchors: [{ selector: "#gone", cells: [[10, 10, 2]] }] } });
  const { points } = placeSignals(data, () => null, 1000);
  assert.deepEqual(points, [{ kind: "rage", x: 245, y: 430, n: 2 }]);
});

test("a thrashed cursor is drawn by page position only, and quick backs not at all", () => {
  const data = layers({ thrash: { page: [[50, 10, 1]], anchors: [] }, quick_back: { page: [], anchors: [] } });
  const { points, placed } = placeSignals(data, () => HERO, 800);
  assert.deepEqual(points, [{ kind: "thrash", x: 404, y: 210, n: 1 }]);
  assert.deepEqual(placed, { thrash: 1 });
});

test("badges list a session's signals in a fixed order with their counts", () => {
  assert.deepEqual(signalBadges({ quick_back: 1, rage: 2, thrash: 0 }), [
    { kind: "rage", n: 2, text: "Rage click ×2" },
    { kind: "quick_back", n: 1, text: "Quick back" },
  ]);
  assert.deepEqual(signalBadges(undefined), []);
});

test("zones are placed on their element, adaptation widgets too, with the chosen measure", async () => {
  const { placeZones, zoneSelector } = await import("../src/admin/frustration.js");
  assert.equal(zoneSelector("deals"), '[data-zone="deals"]');
  assert.equal(zoneSelector("adaptation-coupon"), '[data-adaptation="coupon"]');
  const boxes = { '[data-zone="deals"]': HERO, '[data-adaptation="coupon"]': { left: 0, top: 0, width: 10, height: 10 } };
  const rows = [
    { zone: "deals", clicks: 4, revenue_cents: 4599 },
    { zone: "adaptation-coupon", clicks: 1, revenue_cents: 0 },
    { zone: "related", clicks: 9, revenue_cents: 100 }, // not on this page
  ];
  const { placed, max } = placeZones(rows, (selector) => boxes[selector] || null, "revenue_cents");
  assert.deepEqual(placed.map((p) => [p.row.zone, p.value]), [["deals", 4599], ["adaptation-coupon", 0]]);
  assert.equal(max, 4599);
});
