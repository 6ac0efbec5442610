// Frustration signals and zones in the console (server/domain/frustration.py, zones.py): the
// signals' names, colours, a session's badges, the heatmap layer's points, and the zone
// overlay's boxes. Pure: the heatmap page passes `locate(selector) -> box | null`, as for the
// click heatmap (./projection.js).

import { addBins, emptyHeat, placeClicks, placeMoves } from "./projection.js";

export const SIGNALS = ["rage", "dead", "error", "quick_back", "thrash"];
export const SIGNAL_LABELS = {
  rage: "Rage click",
  dead: "Dead click",
  error: "Error click",
  quick_back: "Quick back",
  thrash: "Thrashed cursor",
};
export const SIGNAL_COLORS = {
  rage: "#dc2626",
  dead: "#6b7280",
  error: "#9333ea",
  quick_back: "#0891b2",
  thrash: "#ea580c",
};

/** A session's signal counts ({rage: 2, ...}) as badges, in the order of SIGNALS. */
export function signalBadges(counts) {
  return SIGNALS.filter((kind) => counts && counts[kind] > 0).map((kind) => ({
    kind,
    n: counts[kind],
    text: counts[kind] > 1 ? `${SIGNAL_LABELS[kind]} ×${counts[kind]}` : SIGNAL_LABELS[kind],
  }));
}

/**
 * The heatmap layer: each signal's cells placed on the page drawn at `width` (click signals
 * on their element when this page has it, else by page position; a thrashed cursor by page
 * position). Returns [{kind, x, y, n}] and the count placed per kind. Quick backs belong to
 * the page as a whole and have no point.
 */
export function placeSignals(data, locate, width) {
  const points = [];
  const placed = {};
  for (const kind of SIGNALS) {
    const layer = data && data.layers && data.layers[kind];
    if (!layer) continue;
    const heat = addBins(emptyHeat(), { ...layer, grid: data.grid });
    const spots = kind === "thrash" ? placeMoves(heat, width).points : placeClicks(heat, locate, width).points;
    for (const [x, y, n] of spots) {
      if (n <= 0) continue;
      points.push({ kind, x, y, n });
      placed[kind] = (placed[kind] || 0) + n;
    }
  }
  return { points, placed };
}

export const ZONE_MEASURES = {
  views: { label: "views", format: (n) => String(n) },
  clicks: { label: "clicks", format: (n) => String(n) },
  click_rate: { label: "click rate", format: (n) => `${(n * 100).toFixed(1)} %` },
  revenue_cents: { label: "attributed revenue", format: (n) => `€${(n / 100).toFixed(2)}` },
};

/** The element a zone names: `data-zone`, or an adaptation widget (`adaptation-<name>`). */
export function zoneSelector(zone) {
  if (zone.startsWith("adaptation-")) return `[data-adaptation="${zone.slice("adaptation-".length)}"]`;
  return `[data-zone="${zone}"]`;
}

/** Zones found on the drawn page with their box and the chosen measure (0 when none yet). */
export function placeZones(rows, locate, measure) {
  const placed = [];
  for (const row of rows) {
    const box = locate(zoneSelector(row.zone));
    if (!box || box.width <= 0 || box.height <= 0) continue;
    placed.push({ row, box, value: Number(row[measure]) || 0 });
  }
  return { placed, max: Math.max(0, ...placed.map((p) => p.value)) };
}
