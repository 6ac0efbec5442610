// What the node shoppers of the integration tests share (tests/integration/*_client.mjs): the
// real browser transport (client/src/transport.js) over the real socket.io-client, set up as
// in a page but with node's stand-ins, and how a run ends (wait for every acknowledgement,
// print one JSON report line, close). The Python side is tests/support/node_shoppers.py.
//
// Each driver is run as: node <driver> <base url> <cookie> <vid> <sid> <its own arguments...>

import { createRequire } from "node:module";

import { createTransport } from "../../client/src/transport.js";

const require = createRequire(new URL("../../client/package.json", import.meta.url));
const { io } = require("socket.io-client");

/** The arguments every driver gets first, then the driver's own (`rest`). */
export function shopperArgs(argv = process.argv) {
  const [base, cookie, vid, sid, ...rest] = argv.slice(2);
  return { base, cookie, vid, sid, rest };
}

/** sessionStorage's interface, in memory. */
export function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
  };
}

/** The page's transport for this visitor's cookie; `options` add to it (e.g. `limits`). */
export function nodeTransport(base, cookie, options = {}) {
  return createTransport({
    // In node, withCredentials switches on engine.io's own (empty) cookie jar: send ours instead.
    io: (url, ioOptions) => io(base + url, { ...ioOptions, withCredentials: false, extraHeaders: { Cookie: cookie } }),
    url: "/track",
    storage: memoryStorage(),
    beacon: null,
    document: null,
    isOnline: () => true,
    ...options,
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait until every batch is acknowledged, or `timeoutS` passed. */
export async function drain(transport, timeoutS, pollMs = 200) {
  const deadline = Date.now() + Number(timeoutS) * 1000;
  while (transport.stats.pending > 0 && Date.now() < deadline) {
    await sleep(pollMs);
  }
}

/** One JSON line: `fields`, then the transport's counters and its last error. */
export function report(transport, fields = {}) {
  const { lastError, ...stats } = transport.stats;
  console.log(JSON.stringify({ ...fields, stats, lastError }));
}

/** Print the final report line, close the transport and exit. */
export function finish(transport, fields) {
  report(transport, fields);
  transport.close();
  process.exit(0);
}
