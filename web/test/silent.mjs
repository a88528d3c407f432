// Browser test of the client's liveness against gateways that fall silent, driven by
// web/silent_test.go (go test ./web), which starts a replica with the echo canister, a gateway, a
// relay in front of it and a page server, and passes:
//
//   node web/test/silent.mjs '{"page": url, "relay": url, "chromium": path, "timeoutMs": n}'
//
// For each relay mode (the relay's path) it connects through the relay with heartbeatTimeoutMs =
// timeoutMs and measures when recv fails:
//   silent          the relay withholds every canister frame from the start;
//   withhold-sixth  it passes the greeting and the replies to m0 … m4, then withholds the reply
//                   to m5 and everything after it (heartbeats too).
// The socket stays open in both. It prints one JSON object with the results; the Go test checks it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2] ?? '{}');
for (const k of ['page', 'relay', 'chromium', 'timeoutMs']) {
  if (!cfg[k]) {
    console.error(`silent.mjs: config has no "${k}"`);
    process.exit(2);
  }
}

// This machine's network is closed: Chromium must not try its background connections.
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'icws-chromium-'));
const out = { modes: {}, errors: [] };
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: cfg.chromium, headless: true, args });
  const page = await context.newPage();
  page.setDefaultTimeout(cfg.timeoutMs + 30_000);
  page.on('pageerror', (e) => out.errors.push(`page error: ${e.message}`));
  // Not the demo page, which would connect by itself: a document of the page's origin.
  await page.goto(new URL('/config.json', cfg.page).href);
  for (const mode of ['silent', 'withhold-sixth']) {
    out.modes[mode] = await page.evaluate(async ({ relay, mode, timeoutMs }) => {
      const lib = await import('/icws.js');
      const pc = await (await fetch('/config.json')).json();
      const conn = await lib.IcWebSocket.connect({
        gateway: `${relay}/${mode}`, ic: pc.ic, canisterId: pc.canisters.echo, rootKey: pc.rootKey, heartbeatTimeoutMs: timeoutMs,
      });
      const opened = performance.now();
      const got = [];
      let lastSend = opened;
      let lastFrame = opened;
      try {
        if (mode === 'withhold-sixth') {
          got.push(lib.decodeAppMessage((await conn.recv()).payload).text);
          lastFrame = performance.now();
          for (let i = 0; i < 6; i++) {
            lastSend = performance.now();
            conn.send(lib.encodeAppMessage(`m${i}`));
            if (i === 5) break;
            got.push(lib.decodeAppMessage((await conn.recv()).payload).text);
            lastFrame = performance.now();
          }
        }
        // Bounded: a client that never notices the silence fails the test in time.
        const late = new Promise((resolve) => { setTimeout(() => resolve(null), timeoutMs + 20_000); });
        const m = await Promise.race([conn.recv(), late]);
        if (m === null) return { got, unexpected: `nothing within ${timeoutMs + 20_000} ms` };
        return { got, unexpected: lib.decodeAppMessage(m.payload).text };
      } catch (e) {
        const at = performance.now();
        return {
          got,
          kind: String(e?.kind ?? ''),
          message: String(e?.message ?? e),
          sinceOpenMs: at - opened,
          sinceLastSendMs: at - lastSend,
          sinceLastFrameMs: at - lastFrame,
        };
      } finally {
        conn.close('test over');
      }
    }, { relay: cfg.relay, mode, timeoutMs: cfg.timeoutMs });
  }
} catch (e) {
  out.failure = String(e?.stack ?? e);
} finally {
  await context?.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
process.stdout.write(`${JSON.stringify(out)}\n`);
