// A shopper for the fault tests: the real browser transport and socket.io-client, run by node
// (setup shared in tests/support/node_shopper.mjs). It sends schema-v1 batches at a steady
// pace, keeps what is not acknowledged, resends after errors and reconnects, then prints one
// JSON line: how many batches and events it sent, and the transport's counters.
//
// node test_faults_client.mjs <base url> <cookie> <vid> <sid> <batches> <interval ms> <timeout s>

import { drain, finish, nodeTransport, shopperArgs, sleep } from "../support/node_shopper.mjs";

const { base, cookie, vid, sid, rest } = shopperArgs();
const [batchCount, intervalMs, timeoutS] = rest;
const pvid = `fault${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`.slice(0, 22);
const t0 = Date.now();
const transport = nodeTransport(base, cookie);

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
  await sleep(Number(intervalMs));
}

await drain(transport, timeoutS);
finish(transport, { pvid, batches: Number(batchCount), events: sentEvents });
