// /admin/heatmap: the page itself in a same-origin iframe at the chosen width (rendered with
// ?preview=1, so the admin is never tracked), a canvas over it, bins from the API, and live
// deltas from the /admin namespace while "Live" is on.

import { getJSON, number, subscribe, vendorGlobal } from "./common.js";
import { addBins, emptyHeat, matchesFilters, placeClicks, placeMoves, scrollBands, scrollShares } from "./projection.js";

const FIELDS = ["page", "kind", "width", "viewport_class", "persona", "arm", "from", "to"];
const DEFAULT_WIDTH = { mobile: 375, tablet: 768, desktop: 1280 };
const MAX_HEIGHT = 16000; // canvas limits; a longer page is drawn down to here
const REDRAW_EVERY_MS = 1000;

const form = document.querySelector("[data-heatmap-form]");
const stage = document.querySelector("[data-heatmap-stage]");
const frameBox = document.querySelector("[data-heatmap-frame]");
const frame = document.querySelector("[data-heatmap-iframe]");
const canvas = document.querySelector("[data-heatmap-canvas]");
const status = document.querySelector("[data-heatmap-status]");
const summary = document.querySelector("[data-heatmap-summary]");

let filters = {};
let heat = emptyHeat();
let scroll = null; // {reached: number[]} for the scroll map
let liveJoined = false;
let redrawTimer = null;
let liveUpdates = 0;

function readFilters() {
  const data = new FormData(form);
  const out = {};
  for (const field of FIELDS) {
    const value = String(data.get(field) || "").trim();
    if (value) out[field] = value;
  }
  out.width = Number(out.width) || DEFAULT_WIDTH[out.viewport_class] || 1280;
  out.live = data.get("live") === "1";
  return out;
}

function fillForm(params) {
  for (const field of [...FIELDS, "live"]) {
    const input = form.elements.namedItem(field);
    const value = params.get(field);
    if (!input || value === null) continue;
    if (input.type === "checkbox") input.checked = value === "1";
    else input.value = value;
  }
}

function apiQuery(current) {
  const params = new URLSearchParams();
  for (const field of ["page", "kind", "viewport_class", "persona", "arm", "from", "to"]) {
    if (current[field]) params.set(field, current[field]);
  }
  return params;
}

function setStatus(text, state) {
  status.textContent = text;
  stage.dataset.state = state;
}

function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}

/** Load the page at `width` px and let the iframe grow to the page's full height. */
async function loadPage(page, width) {
  const src = `${page}?preview=1`;
  if (frame.dataset.src !== src || frame.dataset.width !== String(width)) {
    frame.style.width = `${width}px`;
    frame.style.height = "900px";
    frame.dataset.height = "900";
    await new Promise((resolve) => {
      frame.addEventListener("load", resolve, { once: true });
      frame.src = src;
    });
    frame.dataset.src = src;
    frame.dataset.width = String(width);
  }
  const doc = frame.contentDocument;
  for (let i = 0; i < 3; i += 1) {
    await nextFrame();
    const height = Math.min(MAX_HEIGHT, doc.documentElement.scrollHeight);
    if (String(height) === frame.dataset.height) break;
    frame.style.height = `${height}px`;
    frame.dataset.height = String(height);
  }
  const height = Number(frame.dataset.height);
  canvas.width = width;
  canvas.height = height;
  frameBox.style.width = `${width}px`;
  frameBox.style.height = `${height}px`;
  fitToStage();
}

function fitToStage() {
  const width = Number(frame.dataset.width) || 1280;
  const height = Number(frame.dataset.height) || 900;
  const scale = Math.min(1, stage.clientWidth / width);
  frameBox.style.transform = `scale(${scale})`;
  stage.style.height = `${Math.ceil(height * scale)}px`;
  stage.dataset.scale = String(scale);
}

/** An element's box in page pixels inside the preview, or null when this page lacks it. */
function locate(selector) {
  let node = null;
  try {
    node = frame.contentDocument.querySelector(selector);
  } catch {
    return null; // a selector this browser cannot parse: treat as missing
  }
  if (!node) return null;
  const rect = node.getBoundingClientRect();
  const win = frame.contentWindow;
  return { left: rect.left + win.scrollX, top: rect.top + win.scrollY, width: rect.width, height: rect.height };
}

async function draw() {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const width = canvas.width;
  if (filters.kind === "scroll") {
    drawScroll(ctx);
    return;
  }
  const placed = filters.kind === "click" ? placeClicks(heat, locate, width) : placeMoves(heat, width);
  const values = placed.points.map((point) => point[2]).sort((a, b) => a - b);
  // The 95th percentile as the top of the scale: one hot spot must not wash out the rest.
  const max = Math.max(1, values.length ? values[Math.floor((values.length - 1) * 0.95)] : 1);
  const simpleheat = await vendorGlobal("/vendor/simpleheat.js", "simpleheat");
  const layer = simpleheat(canvas);
  layer.data(placed.points).max(max).radius(filters.kind === "click" ? 16 : 22, 14);
  layer.draw(0.2);
  canvas.dataset.points = String(placed.points.length);
  const where = filters.kind === "click"
    ? ` · ${number(placed.onAnchors)} placed on their element, ${number(Math.round(placed.fallbackShare * 100))} % by page position`
    : "";
  summary.textContent = `${number(heat.total)} ${filters.kind === "click" ? "clicks" : "pointer samples"}${where}`;
  summary.dataset.total = String(heat.total);
}

function drawScroll(ctx) {
  const { views, depths } = scrollShares(scroll ? scroll.reached : {});
  const bands = scrollBands(depths, canvas.height);
  for (const band of bands) {
    const hue = Math.round(240 * (1 - band.share)); // red: everyone saw it; blue: nobody
    ctx.fillStyle = `hsla(${hue}, 85%, 50%, 0.38)`;
    ctx.fillRect(0, band.top, canvas.width, band.bottom - band.top);
  }
  ctx.font = "bold 16px system-ui, sans-serif";
  for (const quarter of [5, 10, 15]) {
    const band = bands[quarter - 1];
    if (!band) continue;
    ctx.fillStyle = "rgba(0, 0, 0, 0.75)";
    ctx.fillRect(0, band.bottom - 1, canvas.width, 2);
    ctx.fillRect(8, band.bottom - 28, 220, 24);
    ctx.fillStyle = "#fff";
    ctx.fillText(`${Math.round(band.share * 100)} % reached ${quarter * 5} %`, 16, band.bottom - 10);
  }
  canvas.dataset.points = String(bands.length);
  summary.textContent = `${number(views)} page views`;
  summary.dataset.total = String(views);
}

function scheduleDraw() {
  if (redrawTimer !== null) return;
  redrawTimer = setTimeout(() => {
    redrawTimer = null;
    draw().catch((error) => setStatus(`Drawing failed: ${error.message}`, "error"));
  }, REDRAW_EVERY_MS);
}

function onDelta(delta) {
  if (!filters.live || !filters.page) return;
  let changed = false;
  if (filters.kind === "scroll") {
    for (const depth of delta.scroll || []) {
      if (!matchesFilters({ ...depth, kind: "scroll" }, filters)) continue;
      for (const [bucket, n] of Object.entries(depth.reached)) scroll.reached[bucket] = (scroll.reached[bucket] || 0) + n;
      changed = true;
    }
  } else {
    for (const bin of delta.bins || []) {
      if (bin.kind !== filters.kind || !matchesFilters(bin, filters)) continue;
      addBins(heat, bin);
      changed = true;
    }
  }
  if (changed) {
    liveUpdates += 1;
    stage.dataset.liveUpdates = String(liveUpdates);
    scheduleDraw();
  }
}

async function show() {
  filters = readFilters();
  const params = new URLSearchParams({ ...filters, width: String(filters.width), live: filters.live ? "1" : "" });
  for (const [key, value] of [...params]) if (!value) params.delete(key);
  history.replaceState(null, "", `?${params}`);
  if (!filters.page || !filters.kind) {
    setStatus("Choose a page and a kind.", "idle");
    return;
  }
  setStatus("Loading…", "loading");
  try {
    const [data] = await Promise.all([getJSON(`/admin/api/heatmap?${apiQuery(filters)}`), loadPage(filters.page, filters.width)]);
    if (filters.kind === "scroll") {
      scroll = { reached: Object.fromEntries(data.depths.map((d, b) => [b, d.reached])) };
    } else {
      heat = addBins(emptyHeat(), data);
    }
    await draw();
    if (filters.live && !liveJoined) {
      liveJoined = true;
      await subscribe({ channel: "heatmap" }, { heatmap: onDelta });
    }
    setStatus(filters.live ? "Live: updates every second while shoppers move." : "", "ready");
  } catch (error) {
    setStatus(`Could not load the heatmap: ${error.message}`, "error");
  }
}

async function loadPageList() {
  try {
    const { pages } = await getJSON("/admin/api/heatmap/pages");
    const list = document.getElementById("heatmap-pages");
    list.replaceChildren(...pages.map((page) => Object.assign(document.createElement("option"), { value: page })));
  } catch {
    // the free-text field still works
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  show();
});
window.addEventListener("resize", fitToStage);
fillForm(new URLSearchParams(window.location.search));
loadPageList();
show();
