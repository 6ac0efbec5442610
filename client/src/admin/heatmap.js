// /admin/heatmap: the page itself in a same-origin iframe at the chosen width (rendered with
// ?preview=1, so the admin is never tracked), a canvas over it, bins from the API, and live
// deltas from the /admin namespace while "Live" is on. The "frustration" kind draws where
// shoppers struggled (/admin/api/frustration) as marks, one colour per signal.

import { getJSON, number, subscribe, vendorGlobal } from "./common.js";
import { SIGNALS, SIGNAL_COLORS, SIGNAL_LABELS, ZONE_MEASURES, placeSignals, placeZones } from "./frustration.js";
import { addBins, emptyHeat, matchesFilters, placeClicks, placeMoves, scrollBands, scrollShares } from "./projection.js";

const FIELDS = ["page", "kind", "measure", "width", "viewport_class", "persona", "arm", "from", "to"];
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
const legend = document.querySelector("[data-heatmap-legend]");

let filters = {};
let heat = emptyHeat();
let scroll = null; // {reached: number[]} for the scroll map
let signals = null; // /admin/api/frustration's answer for the frustration layer
let zones = null; // /admin/api/zones's answer for the zone overlay
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

function signalQuery(current) {
  const params = apiQuery(current);
  params.delete("kind");
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
  if (filters.kind === "frustration") {
    drawSignals(ctx);
    return;
  }
  if (filters.kind === "zones") {
    drawZones(ctx);
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

function drawSignals(ctx) {
  const { points, placed } = placeSignals(signals, locate, canvas.width);
  for (const { kind, x, y, n } of points) {
    ctx.beginPath();
    ctx.arc(x, y, Math.min(28, 7 + 3 * Math.sqrt(n)), 0, 2 * Math.PI);
    ctx.fillStyle = `${SIGNAL_COLORS[kind]}b3`;
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }
  const totals = (signals && signals.totals) || {};
  canvas.dataset.points = String(points.length);
  canvas.dataset.signals = SIGNALS.filter((kind) => placed[kind]).map((kind) => `${kind}:${placed[kind]}`).join(",");
  const parts = SIGNALS.map((kind) => `${SIGNAL_LABELS[kind]}: ${number(totals[kind] || 0)}`);
  summary.textContent = `${parts.join(" · ")} · ${number((signals && signals.views) || 0)} page views`;
  summary.dataset.total = String(SIGNALS.reduce((sum, kind) => sum + (totals[kind] || 0), 0));
  renderLegend();
}

function drawZones(ctx) {
  const measure = ZONE_MEASURES[filters.measure] ? filters.measure : "revenue_cents";
  const { placed, max } = placeZones((zones && zones.zones) || [], locate, measure);
  ctx.font = "600 13px system-ui, sans-serif";
  for (const { row, box, value } of placed) {
    const share = max > 0 ? value / max : 0;
    ctx.fillStyle = `rgba(37, 99, 235, ${(0.08 + 0.5 * share).toFixed(3)})`;
    ctx.fillRect(box.left, box.top, box.width, box.height);
    ctx.lineWidth = 2;
    ctx.strokeStyle = "rgba(37, 99, 235, 0.9)";
    ctx.strokeRect(box.left + 1, box.top + 1, box.width - 2, box.height - 2);
    const text = `${row.zone}: ${ZONE_MEASURES[measure].format(value)}`;
    const width = ctx.measureText(text).width + 12;
    ctx.fillStyle = "rgba(15, 23, 42, 0.85)";
    ctx.fillRect(box.left + 4, box.top + 4, width, 20);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, box.left + 10, box.top + 18);
  }
  canvas.dataset.points = String(placed.length);
  canvas.dataset.zones = placed.map(({ row, value }) => `${row.zone}:${value}`).join(",");
  const missing = ((zones && zones.zones) || []).length - placed.length;
  summary.textContent = `${placed.length} zones coloured by ${ZONE_MEASURES[measure].label}${missing > 0 ? ` · ${missing} not on this page as drawn` : ""}`;
  summary.dataset.total = String(placed.length);
}

function renderLegend() {
  legend.hidden = filters.kind !== "frustration";
  if (legend.hidden) return;
  legend.replaceChildren(...SIGNALS.map((kind) => {
    const swatch = document.createElement("span");
    swatch.className = "legend__swatch";
    swatch.style.background = SIGNAL_COLORS[kind];
    const item = document.createElement("li");
    item.dataset.signal = kind;
    item.append(swatch, ` ${SIGNAL_LABELS[kind]}`);
    return item;
  }));
}

function scheduleDraw() {
  if (redrawTimer !== null) return;
  redrawTimer = setTimeout(() => {
    redrawTimer = null;
    draw().catch((error) => setStatus(`Drawing failed: ${error.message}`, "error"));
  }, REDRAW_EVERY_MS);
}

function onDelta(delta) {
  if (!filters.live || !filters.page || filters.kind === "frustration" || filters.kind === "zones") return;
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
    const own = { frustration: "/admin/api/frustration", zones: "/admin/api/zones" }[filters.kind];
    const api = own ? `${own}?${signalQuery(filters)}` : `/admin/api/heatmap?${apiQuery(filters)}`;
    const [data] = await Promise.all([getJSON(api), loadPage(filters.page, filters.width)]);
    if (filters.kind === "frustration") {
      signals = data;
    } else if (filters.kind === "zones") {
      zones = data;
    } else if (filters.kind === "scroll") {
      scroll = { reached: Object.fromEntries(data.depths.map((d, b) => [b, d.reached])) };
    } else {
      heat = addBins(emptyHeat(), data);
    }
    await draw();
    if (filters.live && !liveJoined) {
      liveJoined = true;
      await subscribe({ channel: "heatmap" }, { heatmap: onDelta });
    }
    renderLegend();
    const live = filters.live && !["frustration", "zones"].includes(filters.kind);
    setStatus(live ? "Live: updates every second while shoppers move." : "", "ready");
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
