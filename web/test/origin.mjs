// Browser test of the gateway's origin allow-list, driven by web/origin_test.go (go test ./web),
// which starts a replica with the echo canister, two gateways and a page server on another
// loopback port than either gateway, and passes:
//
//   node web/test/origin.mjs '{"page": url, "refusing": wsURL, "allowing": wsURL, "ic": url, "canisterId": id, "rootKey": hex, "chromium": path}'
//
// The refusing gateway has an empty allow-list, the allowing one lists the page's origin. In a
// page of that origin it connects to the refusing gateway with the promise API (connect, recv)
// and with the event API (IcWebSocketEvents), recording what each reports and what explain says,
// then to the allowing gateway, where it sends one message and reads the echo. It prints one JSON
// object with the results; the Go test checks it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2] ?? '{}');
for (const k of ['page', 'refusing', 'allowing', 'ic', 'canisterId', 'rootKey', 'chromium']) {
  if (!cfg[k]) {
    console.error(`origin.mjs: config has no "${k}"`);
    process.exit(2);
  }
}

// This machine's network is closed: Chromium must not try its background connections.
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'icws-chromium-'));
const out = { errors: [] };
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: cfg.chromium, headless: true, args });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.on('pageerror', (e) => out.errors.push(`page error: ${e.message}`));
  await page.goto(cfg.page);
  out.origin = await page.evaluate(() => location.origin);
  Object.assign(out, await page.evaluate(async (cfg) => {
    const lib = await import('/icws.js');
    const opts = { ic: cfg.ic, canisterId: cfg.canisterId, rootKey: cfg.rootKey };
    const bounded = (p, what) => Promise.race([p, new Promise((_, reject) => { setTimeout(() => reject(new Error(`${what}: nothing within 20 s`)), 20_000); })]);
    const res = {};

    // The promise API: connect returns once the first message is written; recv reports the close.
    try {
      const conn = await bounded(lib.IcWebSocket.connect({ ...opts, gateway: cfg.refusing }), 'connect');
      try {
        const m = await bounded(conn.recv(), 'recv');
        res.refused = { unexpected: `a message: ${lib.decodeAppMessage(m.payload).text}` };
      } finally {
        conn.close('test over');
      }
    } catch (e) {
      res.refused = { name: e?.name, code: e?.code ?? null, reason: e?.reason ?? null, message: String(e?.message ?? e), explain: lib.explain(e) };
    }

    // The event API, as ic-websocket-js users write it.
    res.events = await bounded(new Promise((resolve) => {
      const seen = [];
      const ws = new lib.IcWebSocketEvents(cfg.refusing, undefined, { ...opts, networkUrl: cfg.ic, ic: undefined });
      ws.onopen = () => seen.push({ type: 'open' });
      ws.onerror = (ev) => seen.push({ type: 'error', fatal: ev.fatal, message: String(ev.error?.message ?? ev.error) });
      ws.onclose = (ev) => {
        seen.push({ type: 'close', code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
        resolve(seen);
      };
    }), 'IcWebSocketEvents');

    // The same page through the gateway that allows its origin.
    const conn = await bounded(lib.IcWebSocket.connect({ ...opts, gateway: cfg.allowing }), 'connect (allowed)');
    try {
      const got = [lib.decodeAppMessage((await bounded(conn.recv(), 'recv (allowed)')).payload).text];
      conn.send(lib.encodeAppMessage('hello from another origin'));
      got.push(lib.decodeAppMessage((await bounded(conn.recv(), 'recv (allowed)')).payload).text);
      res.allowed = { got };
    } finally {
      conn.close('test over');
    }
    return res;
  }, cfg));
} catch (e) {
  out.failure = String(e?.stack ?? e);
} finally {
  await context?.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
process.stdout.write(`${JSON.stringify(out)}\n`);
