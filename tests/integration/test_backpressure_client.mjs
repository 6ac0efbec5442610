// A shopper for the backpressure test: the real browser transport (client/src/transport.js)
// with the real socket.io-client, run by node. It sends schema-v1 batches at a steady pace
// and keeps every batch until it is acknowledged (a "busy" answer is retryable). While it
// runs it prints its transport counters as one JSON line every 100 ms ({"stats": ...}), so
// the test sees batches kept while the server pushes back; at the end one line with
// "final": true, how many batches and events it sent, and the counters.
//
// node test_backpressure_client.mjs <base url> <cookie> <vid> <sid> <batches> <interval ms>
//   <timeout s> <max retry delay ms>

import { createRequire } from "node:module";

import { createTransport } from "../../client/src/transport.js";

const require = createRequire(new URL("../../client/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [base, cookie, vid, sid, batchCount, intervalMs, timeoutS, retryMaxMs] = process.argv.slice(2);
const pvid = `bp${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`.slice(0, 22);
const t0 = Date.now();

function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
  };
}

const transport = createTransport({
  // In node, withCredentials switches on engine.io's own (empty) cookie jar: send ours instead.
  io: (url, options) => io(base + url, { ...options, withCredentials: false, extraHeaders: { Cookie: cookie } }),
  url: "/track",
  storage: memoryStorage(),
  beacon: null,
  document: null,
  isOnline: () => true,
  // The browser's backoff doubles up to 30 s; capped lower here so the test ends sooner.
  limits: { retryMaxMs: Number(retryMaxMs) },
});

function report(extra) {
  const { lastError, ...stats } = transport.stats;
  console.log(JSON.stringify({ ...extra, stats, lastError }));
}

const ticker = setInterval(() => report({}), 100);

function events(seq) {
  const list = [];
  if (seq === 0) {
    list.push({ k: "page", t: 0, path: "/catalog", title: "Catalog", ref: "", vw: 1280, vh: 800, dh: 3000, dev: "desktop" });
  }
  for (let i = 0; i < 1 + (seq % 4); i += 1) {
    list.push({ k: "move", t: seq * 100 + i * 10, x: 100 + i, y: 200 + (seq % 50) });
  }
  if (seq % 5 === 2) {
    list.push({ k: "click", t: seq * 100 + 50, x: 300, y: 400, a: "[data-action=\"add-to-cart\"]", rx: 0.5, ry: 0.5 });
  }
  return list;
}

let sentEvents = 0;
for (let seq = 0; seq < Number(batchCount); seq += 1) {
  const batch = { v: 1, vid, sid, pvid, seq, t0, path: "/catalog", events: events(seq) };
  sentEvents += batch.events.length;
  transport.send(batch);
  await new Promise((resolve) => setTimeout(resolve, Number(intervalMs)));
}

const deadline = Date.now() + Number(timeoutS) * 1000;
while (transport.stats.pending > 0 && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 100));
}
clearInterval(ticker);
report({ final: true, pvid, batches: Number(batchCount), events: sentEvents });
if (transport.socket) transport.socket.disconnect();
process.exit(0);
