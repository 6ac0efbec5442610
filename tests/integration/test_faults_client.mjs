// A shopper for the fault tests: the real browser transport (client/src/transport.js) and
// the real socket.io-client, run by node. It sends schema-v1 batches at a steady pace,
// keeps what is not acknowledged, resends after errors and reconnects, then prints one JSON
// line: how many batches and events it sent, and the transport's counters.
//
// node test_faults_client.mjs <base url> <cookie> <vid> <sid> <batches> <interval ms> <timeout s>

import { createRequire } from "node:module";

import { createTransport } from "../../client/src/transport.js";

const require = createRequire(new URL("../../client/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [base, cookie, vid, sid, batchCount, intervalMs, timeoutS] = process.argv.slice(2);
const pvid = `fault${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`.slice(0, 22);
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
});

function events(seq) {
  const list = [];
  if (seq === 0) {
    list.push({ k: "page", t: 0, path: "/catalog", title: "Catalog", ref: "", vw: 1280, vh: 800, dh: 3000, dev: "desktop" });
  }
  for (let i = 0; i < 1 + (seq % 5); i += 1) {
    list.push({ k: "move", t: seq * 100 + i * 10, x: 100 + i, y: 200 + (seq % 50) });
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
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const { lastError, ...stats } = transport.stats;
console.log(JSON.stringify({ pvid, batches: Number(batchCount), events: sentEvents, stats, lastError }));
if (transport.socket) transport.socket.disconnect();
process.exit(0);
