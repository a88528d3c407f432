// Browser test of the demo page, driven by web/browser_test.go (go test ./web), which starts a
// replica, a gateway, a tampering WebSocket proxy and two copies of the page, and passes:
//
//   node web/test/browser.mjs '{"pageA": url, "pageB": url, "proxy": url, "secret": text,
//                               "after": text, "away": text, "back": text, "forged": text,
//                               "screenshot": path, "chromium": path}'
//
// Page A talks to the gateway directly; page B through the proxy, which flips a byte of the one
// chat message whose text is `secret`, and cuts B's connections on /cut. The two pages chat; the
// proxy cuts B off and B reconnects by itself (A writes `away` meanwhile, B answers `back`); A's
// tamper switch routes it through the page server's forging relay while B writes `forged`; A
// sends the secret, then `after`.
// It prints one JSON object with what each page showed; the Go test checks it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2] ?? '{}');
for (const k of ['pageA', 'pageB', 'proxy', 'secret', 'after', 'away', 'back', 'forged', 'screenshot', 'chromium']) {
  if (!cfg[k]) {
    console.error(`browser.mjs: config has no "${k}"`);
    process.exit(2);
  }
}
const TIMEOUT = 20_000;

// This machine's network is closed: Chromium must not try its background connections.
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'icws-chromium-'));
const out = { pages: {}, errors: [] };
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    args,
    viewport: { width: 960, height: 600 },
    deviceScaleFactor: 1,
  });
  const open = async (name, url) => {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => out.errors.push(`${name}: page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') out.errors.push(`${name}: console ${m.type()}: ${m.text()}`);
    });
    await page.goto(url);
    await page.locator('#room-chat[data-state="open"]').waitFor({ state: 'attached' });
    // The echo tab waits for a click: nothing plays by itself.
    out.echoBeforeClick ??= {};
    out.echoBeforeClick[name] = await page.evaluate(() => ({
      state: document.getElementById('room-echo').dataset.state,
      items: document.querySelectorAll('#room-echo .messages li').length,
    }));
    await page.click('#tab-echo');
    await page.click('#room-echo button.start');
    await page.locator('#room-echo[data-state="open"]').waitFor({ state: 'attached' });
    await page.click('#tab-chat');
    return page;
  };
  const a = await open('A', cfg.pageA);
  const b = await open('B', cfg.pageB);

  const verified = (page, text) => page.locator('#room-chat li[data-status="verified"] .text', { hasText: text }).first().waitFor();
  const say = async (page, text) => {
    await page.fill('#room-chat input[name="text"]', text);
    await page.press('#room-chat input[name="text"]', 'Enter');
  };

  // B sees A join, A sees B join; then they talk.
  await verified(b, 'you joined');
  await verified(a, /client \d+ joined/);
  await say(a, 'Hello from A! Anyone here?');
  await Promise.all([verified(a, 'Hello from A!'), verified(b, 'Hello from A!')]);
  await say(b, 'Hi A, B here. Ünïcödé works too.');
  await Promise.all([verified(a, 'Ünïcödé works too'), verified(b, 'Ünïcödé works too')]);

  // The proxy cuts B's connections as a gateway going away would (1001): B's page reconnects by
  // itself, and what A wrote meanwhile reaches it, verified, once.
  const cut = await fetch(`${cfg.proxy}/cut`);
  if (!cut.ok) throw new Error(`proxy /cut: HTTP ${cut.status}`);
  await b.locator('#room-chat[data-state="reconnecting"]').waitFor({ state: 'attached' });
  await say(a, cfg.away);
  await verified(a, cfg.away);
  await b.locator('#room-chat[data-state="open"]').waitFor({ state: 'attached' });
  out.reconnected = true;
  await verified(b, cfg.away);
  await say(b, cfg.back);
  await Promise.all([verified(a, cfg.back), verified(b, cfg.back)]);

  // Rooms on certified channels: B joins #garden and hears itself there (its subscription is
  // confirmed and delivering); A joins and speaks, both hear it; A leaves and misses what B says
  // next in #garden, but not what B then says to everyone.
  const inRoom = (page, text) => page.locator('#room-chat li[data-status="verified"][data-channel="room:garden"] .text', { hasText: text }).first().waitFor();
  const join = async (page, room) => {
    await page.fill('#room-chat form.rooms input[name="room"]', room);
    await page.click('#room-chat form.rooms button[name="join"]');
  };
  await join(b, 'garden');
  await say(b, 'B in the garden');
  await inRoom(b, 'B in the garden');
  await join(a, 'garden');
  await say(a, 'A in the garden');
  await Promise.all([inRoom(a, 'A in the garden'), inRoom(b, 'A in the garden')]);
  await a.click('#room-chat form.rooms button[name="leave"]');
  await say(b, 'Only B is here');
  await inRoom(b, 'Only B is here');
  await b.selectOption('#room-chat select[name="to"]', '');
  await say(b, 'Back to everyone');
  await Promise.all([verified(a, 'Back to everyone'), verified(b, 'Back to everyone')]);

  // A's tamper switch routes its chat through the page server's forging relay: the next message
  // (B's) reaches A with a byte changed, A rejects it, goes back to the gateway by itself and
  // gets the genuine message, verified.
  await a.locator('#room-chat label.tamper:not([hidden])').waitFor();
  await a.check('#room-chat input[name="tamper"]');
  await a.locator('#room-chat .status', { hasText: 'forging relay' }).waitFor();
  await say(b, cfg.forged);
  await verified(b, cfg.forged);
  await a.locator('#room-chat li[data-status="rejected"][data-kind="tampered"]').first().waitFor();
  await verified(a, cfg.forged);
  await a.locator('#room-chat[data-state="open"]').waitFor({ state: 'attached' });
  out.tamperUnchecked = !(await a.isChecked('#room-chat input[name="tamper"]'));

  // The proxy tampers with B's copy of the secret: A shows it verified, B shows it rejected.
  await say(a, cfg.secret);
  await verified(a, cfg.secret);
  await b.locator('#room-chat li[data-status="rejected"]').first().waitFor();
  await b.locator('#room-chat[data-state="failed"]').waitFor({ state: 'attached' });
  // A message after it reaches B's browser (the proxy says so) but is never shown: the stream stopped.
  await say(a, cfg.after);
  await verified(a, cfg.after);
  const seen = await fetch(`${cfg.proxy}/seen?text=${encodeURIComponent(cfg.after)}`);
  out.afterForwarded = seen.ok;
  await b.evaluate(() => new Promise((resolve) => { setTimeout(resolve, 0); }));

  // The ic-websocket-js event API of the package, on page A, against echo: it greets with "ping"
  // on open and answers a text t with "t ping".
  out.events = await a.evaluate(async () => {
    const lib = await import('/icws.js');
    const cfg = await (await fetch('/config.json')).json();
    const IcWebSocket = lib.default;
    const codec = { encode: (t) => lib.encodeAppMessage(t), decode: (b) => lib.decodeAppMessage(b).text };
    return new Promise((resolve) => {
      const got = { events: [], data: [] };
      const ws = new IcWebSocket(cfg.gateway, undefined, {
        canisterId: cfg.canisters.echo, networkUrl: cfg.ic, rootKey: cfg.rootKey, codec,
      });
      got.initialState = ws.readyState;
      ws.onopen = () => { got.events.push('open'); got.openState = ws.readyState; };
      ws.onmessage = (ev) => {
        got.events.push('message');
        got.data.push(ev.data);
        if (ev.data === 'ping') ws.send('events');
        else ws.close('done');
      };
      ws.onerror = (ev) => got.events.push(`error: ${ev.error.message}`);
      ws.onclose = (ev) => {
        got.events.push('close');
        Object.assign(got, { code: ev.code, reason: ev.reason, wasClean: ev.wasClean, closedState: ws.readyState });
        resolve(got);
      };
      setTimeout(() => resolve({ ...got, timeout: true }), 15_000);
    });
  });

  // The event API with reconnect on, on page B (through the proxy) against echo: the proxy cuts
  // the connection after the greeting; the library reports it as not fatal, moves the session, and
  // a message sent meanwhile is answered.
  const evDone = b.evaluate(async () => {
    const lib = await import('/icws.js');
    const cfg = await (await fetch('/config.json')).json();
    const codec = { encode: (t) => lib.encodeAppMessage(t), decode: (b) => lib.decodeAppMessage(b).text };
    return new Promise((resolve) => {
      const got = { events: [] };
      const ws = new lib.default(cfg.gateway, undefined, {
        canisterId: cfg.canisters.echo, networkUrl: cfg.ic, rootKey: cfg.rootKey, codec, reconnect: { minDelayMs: 100 },
      });
      ws.onopen = () => got.events.push('open');
      ws.onmessage = (ev) => {
        got.events.push(`message ${ev.data}`);
        if (ev.data === 'ping') window.icwsEventsGreeted = true;
        if (ev.data === 'after the cut ping') ws.close('done');
      };
      ws.onerror = (ev) => {
        got.events.push(ev.reconnecting ? 'reconnecting' : `error fatal=${ev.fatal}`);
        if (ev.reconnecting && !got.sent) {
          got.sent = true;
          // send throws while the session moves; once it has, it works (within the 20 s bound).
          const trySend = () => {
            try { ws.send('after the cut'); } catch { setTimeout(trySend, 100); }
          };
          trySend();
        }
      };
      ws.onclose = (ev) => { got.events.push(`close ${ev.code}`); resolve(got); };
      setTimeout(() => resolve({ ...got, timeout: true }), 20_000);
    });
  });
  await b.waitForFunction(() => window.icwsEventsGreeted === true);
  const cut2 = await fetch(`${cfg.proxy}/cut`);
  if (!cut2.ok) throw new Error(`proxy /cut: HTTP ${cut2.status}`);
  out.eventsReconnect = await evDone;

  // The seed's ping-pong on echo, on page A.
  await a.click('#tab-echo');
  await a.locator('#room-echo li[data-status="verified"] .text', { hasText: 'ping-pong ping-pong ping' }).first().waitFor();

  for (const [name, page] of [['A', a], ['B', b]]) {
    out.pages[name] = await page.evaluate(() => {
      const rooms = {};
      for (const room of ['chat', 'echo']) {
        const s = document.getElementById(`room-${room}`);
        rooms[room] = {
          state: s.dataset.state,
          clientId: s.dataset.clientId,
          status: s.querySelector('.status').textContent,
          items: [...s.querySelectorAll('.messages li')].map((li) => ({
            status: li.dataset.status,
            kind: li.dataset.kind ?? null,
            channel: li.dataset.channel ?? null,
            seq: li.dataset.seq ?? null,
            from: li.querySelector('.from')?.textContent ?? null,
            text: li.querySelector('.text')?.textContent ?? null,
            mark: li.querySelector('.mark')?.textContent ?? null,
          })),
        };
      }
      return { rooms, bodyText: document.body.innerText, html: document.documentElement.outerHTML };
    });
  }

  // The screenshot for the README: B's chat, with the rejected message.
  await b.locator('#room-chat .messages').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await b.screenshot({ path: cfg.screenshot, fullPage: true });
  out.screenshot = cfg.screenshot;
} catch (e) {
  out.failure = String(e?.stack ?? e);
  // What each page showed when it failed, for the reader of the failure.
  for (const page of context?.pages() ?? []) {
    out.failure += `\n${page.url()}: ` + await page.evaluate(() => [...document.querySelectorAll('.room')].map((r) => `${r.id} [${r.dataset.state}] ${r.querySelector('.status')?.textContent}`).join(' | ')).catch((err) => String(err));
  }
} finally {
  await context?.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
process.stdout.write(`${JSON.stringify(out)}\n`);
