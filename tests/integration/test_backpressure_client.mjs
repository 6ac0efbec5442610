// A shopper for the backpressure test: the real browser transport and socket.io-client, run
// by node (setup shared in tests/support/node_shopper.mjs). It sends schema-v1 batches at a
// steady pace and keeps every batch until it is acknowledged (a "busy" answer is retryable).
// While it runs it prints its transport counters as one JSON line every 100 ms
// ({"stats": ...}), so the test sees batches kept while the server pushes back; at the end one
// line with "final": true, how many batches and events it sent, and the counters.
//
// node test_backpressure_client.mjs <base url> <cookie> <vid> <sid> <batches> <interval ms>
//   <timeout s> <max retry delay ms>

import { drain, finish, nodeTransport, report, shopperArgs, sleep } from "../support/node_shopper.mjs";

const { base, cookie, vid, sid, rest } = shopperArgs();
const [batchCount, intervalMs, timeoutS, retryMaxMs] = rest;
const pvid = `bp${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`.slice(0, 22);
const t0 = Date.now();
// The browser's backoff doubles up to 30 s; capped lower here so the test ends sooner.
const transport = nodeTransport(base, cookie, { limits: { retryMaxMs: Number(retryMaxMs) } });

const ticker = setInterval(() => report(transport), 100);

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
  await sleep(Number(intervalMs));
}

await drain(transport, timeoutS, 100);
clearInterval(ticker);
finish(transport, { final: true, pvid, batches: Number(batchCount), events: sentEvents });
