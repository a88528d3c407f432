// Drives headless Chromium (playwright-core from the repository root's node_modules) for
// gateway/omnia_node_test.go: opens cfg.page, which loads the bundle of browser-entry.cjs, runs
// window.omniaRun(cfg.opts) and prints {ok, events, errors} as one JSON line.
//
//   node browser.mjs '{"page": url, "chromium": path, "opts": {...session.cjs options}}'
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2] ?? '{}');
// This machine's network is closed: Chromium must not try its background connections.
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'icws-omnia-chromium-'));
const errors = [];
let context;
let result = { ok: false, events: [] };
try {
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: cfg.chromium, headless: true, args });
  const page = await context.newPage();
  page.setDefaultTimeout((cfg.opts.timeoutMs ?? 60000) + 10000);
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
  });
  await page.goto(cfg.page);
  await page.waitForFunction(() => typeof window.omniaRun === 'function', null, { timeout: 15000 });
  result = await page.evaluate((opts) => window.omniaRun(opts), cfg.opts);
} catch (e) {
  errors.push(String(e && e.stack ? e.stack : e));
} finally {
  if (context) await context.close();
  await rm(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify({ ...result, errors }));
process.exit(result.ok ? 0 : 1);
