// A shopper for tests/integration/test_fault_kills.py: the real browser transport and
// socket.io-client, run by node (setup shared in tests/support/node_shopper.mjs), like
// test_faults_client.mjs, with a wider mix of events: page views on shared and fresh paths at
// several viewport widths, moves, clicks (heatmap cells, anchor cells), scrolls (scroll-depth
// buckets), visibility (active time) and cart actions. It sends a batch every <interval ms>
// until a line arrives on stdin, stdin closes, or <max batches> were sent; then it waits until
// everything is acknowledged and prints one JSON line: batches and events sent, page views,
// and the transport's counters.
//
// node test_fault_kills_client.mjs <base url> <cookie> <vid> <sid> <max batches> <interval ms>
//   <timeout s> <shopper index>

import { drain, finish, nodeTransport, shopperArgs, sleep } from "../support/node_shopper.mjs";

const { base, cookie, vid, sid, rest } = shopperArgs();
const [maxBatches, intervalMs, timeoutS, index] = rest;
const shopperIndex = Number(index);
const BATCHES_PER_PAGE = 9;
const SHARED_PATHS = ["/catalog", "/product/p001", "/cart", "/product/p002"];
const WIDTHS = [1280, 390, 900, 1440]; // desktop, mobile, tablet, desktop
const transport = nodeTransport(base, cookie);

let stopped = false;
process.stdin.on("data", () => {
  stopped = true;
});
process.stdin.on("end", () => {
  stopped = true;
});
process.stdin.on("error", () => {
  stopped = true;
});

function newPage(pageIndex) {
  const pvid = `kill${shopperIndex}x${pageIndex}x${Math.random().toString(36).slice(2, 10)}`;
  // Even page views share paths with the other shoppers (their heatmap bins and scroll
  // documents are summed across sessions); odd ones are fresh paths (new documents all along).
  const path = pageIndex % 2 === 0
    ? SHARED_PATHS[(pageIndex / 2 + shopperIndex) % SHARED_PATHS.length]
    : `/fresh/s${shopperIndex}/v${pageIndex}`;
  return { pvid, path, vw: WIDTHS[(pageIndex + shopperIndex) % WIDTHS.length], t0: Date.now() };
}

function events(page, seq) {
  const list = [];
  const t = seq * 250;
  if (seq === 0) {
    list.push({ k: "page", t, path: page.path, title: "Fault kills", ref: "", vw: page.vw, vh: 800, dh: 4000, dev: page.vw < 768 ? "mobile" : page.vw < 1024 ? "tablet" : "desktop" });
  }
  for (let i = 0; i < 1 + ((seq + shopperIndex) % 4); i += 1) {
    list.push({ k: "move", t: t + i * 10, x: (37 * (seq + i) + 11 * shopperIndex) % page.vw, y: 40 * (seq % 30) + i * 7 });
  }
  if (seq % 3 === 1) {
    list.push({
      k: "click", t: t + 50, x: (53 * seq) % page.vw, y: 30 * seq,
      a: `button#buy-${(seq + shopperIndex) % 3}`, rx: ((seq * 7) % 10) / 10, ry: ((seq * 3) % 10) / 10,
    });
  }
  if (seq % 2 === 0 && seq > 0) {
    list.push({ k: "scroll", t: t + 60, y: 350 * seq, d: Math.min(1, seq / (BATCHES_PER_PAGE - 1)) });
  }
  if (seq % 5 === 4) {
    list.push({ k: "vis", t: t + 70, s: "visible", act_ms: 400 + seq });
  }
  if (seq % 7 === 3) {
    list.push({ k: "cart", t: t + 80, op: "add", pid: "p001", q: 1 });
  }
  return list;
}

let sentEvents = 0;
let sentBatches = 0;
let pages = 0;
let page = null;
let seq = 0;
while (!stopped && sentBatches < Number(maxBatches)) {
  if (page === null || seq >= BATCHES_PER_PAGE) {
    page = newPage(pages);
    pages += 1;
    seq = 0;
  }
  const batch = { v: 1, vid, sid, pvid: page.pvid, seq, t0: page.t0, path: page.path, events: events(page, seq) };
  seq += 1;
  sentEvents += batch.events.length;
  sentBatches += 1;
  transport.send(batch);
  await sleep(Number(intervalMs));
}

await drain(transport, timeoutS);
finish(transport, { batches: sentBatches, events: sentEvents, pages });
