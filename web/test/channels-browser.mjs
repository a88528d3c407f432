// Chromium run of the channel scenario (web/test/channels-run.mjs, see web/test/channels.mjs),
// driven by web/channels_test.go: the page at cfg.page loads /icws.js (web/dist) and
// /channels-run.mjs (or the run module cfg.script names: /batch-run.mjs for web/batch_test.go);
// this prints what the run returned, as one JSON object.
//
//   node web/test/channels-browser.mjs '{"page": url, "chromium": path, "gateway": …, "forging": …, "ic": …, "canister": …}'
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'icws-chromium-'));
let context;
let out;
try {
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: cfg.chromium, headless: true, args });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(cfg.page);
  out = await page.evaluate(async (c) => {
    const { IcWebSocket } = await import('/icws.js');
    const { run } = await import(c.script ?? '/channels-run.mjs');
    return run(IcWebSocket, c);
  }, cfg);
  if (pageErrors.length) out.failure = (out.failure ?? '') + ` page errors: ${pageErrors.join('; ')}`;
} catch (e) {
  out = { failure: String(e?.stack ?? e) };
} finally {
  await context?.close();
  await rm(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
