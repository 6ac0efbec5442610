// Heatmap projection: pre-aggregated bins (server/domain/heatmap.py) back onto a page drawn
// at some width. Pure: the caller passes `locate(selector) -> box | null` (the anchor's box
// in page pixels at the drawing width) so this module never touches the DOM.
//
// A click is binned twice: in its anchor element's box (a 20 × 20 grid) and on the page
// (x as a share of the viewport width, y in 20 px rows). Drawn on the anchor when the anchor
// exists on the page being shown, so a click on a button at 1920 px lands on that button at
// 1280 px; the page cells are the fallback for anchors this page does not have.

export const DEFAULT_GRID = { page_x_bins: 100, page_y_px: 20, anchor_bins: 20 };

/** Centre of an anchor sub-cell of `box` ({left, top, width, height}, page pixels). */
export function projectAnchorCell(box, column, row, anchorBins = DEFAULT_GRID.anchor_bins) {
  return [box.left + ((column + 0.5) / anchorBins) * box.width, box.top + ((row + 0.5) / anchorBins) * box.height];
}

/** Centre of a page cell at drawing width `width`. */
export function projectPageCell(column, row, width, grid = DEFAULT_GRID) {
  return [((column + 0.5) / grid.page_x_bins) * width, (row + 0.5) * grid.page_y_px];
}

/** An empty mutable heatmap: page cells and anchor cells keyed "column:row". */
export function emptyHeat(grid = DEFAULT_GRID) {
  return { total: 0, page: new Map(), anchors: new Map(), grid: { ...grid } };
}

function addCells(target, cells) {
  for (const [column, row, n] of cells) {
    const key = `${column}:${row}`;
    target.set(key, (target.get(key) || 0) + n);
  }
}

/** Add bins in the API's shape ({total, page, anchors, grid}) to a heat; returns it. */
export function addBins(heat, data) {
  if (!data) return heat;
  if (data.grid) heat.grid = { ...heat.grid, ...data.grid };
  heat.total += Number(data.total) || 0;
  addCells(heat.page, data.page || []);
  for (const anchor of data.anchors || []) {
    if (!anchor.selector) continue;
    if (!heat.anchors.has(anchor.selector)) heat.anchors.set(anchor.selector, new Map());
    addCells(heat.anchors.get(anchor.selector), anchor.cells || []);
  }
  return heat;
}

function cellsOf(map) {
  return [...map].map(([key, n]) => {
    const [column, row] = key.split(":").map(Number);
    return [column, row, n];
  });
}

/**
 * Place a click heat on a page drawn at `width`: anchor cells on their anchor when
 * `locate` finds it, page cells for the share of clicks whose anchor is missing.
 * Returns {points: [[x, y, n]], onAnchors, missing, fallbackShare}.
 */
export function placeClicks(heat, locate, width) {
  const points = [];
  let onAnchors = 0;
  let missing = 0;
  for (const [selector, cells] of heat.anchors) {
    const box = locate(selector);
    const found = box && box.width > 0 && box.height > 0;
    for (const [column, row, n] of cellsOf(cells)) {
      if (found) {
        points.push([...projectAnchorCell(box, column, row, heat.grid.anchor_bins), n]);
        onAnchors += n;
      } else {
        missing += n;
      }
    }
  }
  // Page cells cannot be told apart by anchor: draw all of them, weighted by the missing share.
  const fallbackShare = onAnchors + missing > 0 ? missing / (onAnchors + missing) : 1;
  if (fallbackShare > 0) {
    for (const [column, row, n] of cellsOf(heat.page)) {
      points.push([...projectPageCell(column, row, width, heat.grid), n * fallbackShare]);
    }
  }
  return { points, onAnchors, missing, fallbackShare };
}

/** Place a movement heat (page cells only) at drawing width `width`. */
export function placeMoves(heat, width) {
  return { points: cellsOf(heat.page).map(([column, row, n]) => [...projectPageCell(column, row, width, heat.grid), n]) };
}

/**
 * Scroll map bands for a page `height` px tall: band i covers depth i/20..(i+1)/20 and is
 * seen by the share of page views that reached its bottom edge.
 */
export function scrollBands(depths, height) {
  const steps = depths.length - 1;
  if (steps < 1) return [];
  const bands = [];
  for (let i = 0; i < steps; i += 1) {
    bands.push({ top: (i / steps) * height, bottom: ((i + 1) / steps) * height, share: depths[i + 1].share });
  }
  return bands;
}

/** Sum scroll "reached" counts (bucket -> views) into the API's {views, depths} shape. */
export function scrollShares(reached, steps = 20) {
  const counts = Array.from({ length: steps + 1 }, (_, b) => Number(reached[b] ?? reached[String(b)] ?? 0));
  const views = counts[0];
  return { views, depths: counts.map((n, b) => ({ depth: b / steps, reached: n, share: views ? n / views : 0 })) };
}

/** Does a live delta (one stored bin's meta) match the filters the page shows? */
export function matchesFilters(meta, filters) {
  if (meta.path !== filters.page) return false;
  if (filters.kind && meta.kind && meta.kind !== filters.kind) return false;
  for (const [field, key] of [["vc", "viewport_class"], ["persona", "persona"], ["arm", "arm"]]) {
    if (filters[key] && meta[field] !== filters[key]) return false;
  }
  if (filters.from && meta.day < filters.from) return false;
  if (filters.to && meta.day > filters.to) return false;
  return true;
}
