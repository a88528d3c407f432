// Drives the page of docs/YOUR-CANISTER.md in headless Chromium for TestYourCanisterDoc:
//
//   node yourpage.mjs '{"url": "http://127.0.0.1:5173/", "chromium": path, "send": "text or empty"}'
//
// It waits until the status line leaves "connecting…"; when connected and send is set, it waits
// for the greeting, sends the text and waits for the answer. It prints {status, title, log}.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'icws-chromium-'));
const out = {};
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: cfg.chromium, headless: true, args });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(cfg.url);
  await page.waitForFunction(() => !document.querySelector('#status').textContent.startsWith('connecting'));
  const connected = (await page.textContent('#status')).startsWith('connected');
  if (connected && cfg.send) {
    await page.waitForFunction(() => document.querySelectorAll('#log li').length >= 1);
    await page.fill('#text', cfg.send);
    await page.click('button');
    await page.waitForFunction(() => document.querySelectorAll('#log li').length >= 3);
  }
  // A refused connection opens and then closes: wait for the status that explains it.
  if (!cfg.send) await page.waitForFunction(() => !document.querySelector('#status').textContent.startsWith('connected'));
  out.status = await page.textContent('#status');
  out.title = await page.getAttribute('#status', 'title');
  out.log = await page.$$eval('#log li', (els) => els.map((e) => e.textContent));
} catch (e) {
  out.failure = String(e?.stack ?? e);
} finally {
  await context?.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
process.stdout.write(`${JSON.stringify(out)}\n`);
