// A table test of explain: every error a page user can meet, in plain words with what to do.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CLOSE_ORIGIN_NOT_ALLOWED, CanisterClosedError, CloseError, ConnectError, IcWebSocket, Kind, VerifyError, closeCodeReason, closeCodeReconnects, explain } from '../src/icws.js';

/** The error connect throws for opts, made by the real code path. */
async function connectError(opts) {
  try {
    await IcWebSocket.connect(opts);
  } catch (e) {
    return e;
  }
  throw new Error('connect succeeded');
}

test('explain: what was wrong and what to do, for every error a user meets', async () => {
  const wrongId = await connectError({ gateway: 'ws://127.0.0.1:1', ic: 'http://127.0.0.1:1', canisterId: 'chat' });
  assert.ok(wrongId instanceof ConnectError && wrongId.stage === 'canister id', `connect with "chat": ${wrongId}`);
  const cases = [
    { name: 'wrong canister id', err: wrongId, title: /canister id is not valid/, todo: /id that icws dev prints/ },
    { name: 'missing root key', err: new ConnectError('root key', 'icws: no root key'), title: /no root key/, todo: /rootKey.*fetchRootKey/ },
    { name: 'IC down', err: new ConnectError('register', 'icws: failed to register', { url: 'http://127.0.0.1:4943' }), title: /IC at http:\/\/127\.0\.0\.1:4943/, todo: /IC runs/ },
    { name: 'gateway down', err: new ConnectError('open', 'icws: failed to open', { url: 'ws://127.0.0.1:8080' }), title: /gateway at ws:\/\/127\.0\.0\.1:8080 did not accept/, todo: /--allowed-origins/ },
    { name: 'refused origin', err: new CloseError(4009, 'origin http://127.0.0.1:5173 is not allowed: start the gateway with --allowed-origins http://127.0.0.1:5173'), title: /refused this page's origin \(origin http:\/\/127\.0\.0\.1:5173 is not allowed/, todo: /with --allowed-origins http:\/\/127\.0\.0\.1:5173, or serve/ },
    { name: 'dead gateway', err: new CloseError(1006, ''), title: /connection to the gateway was lost/, todo: /Reconnect/ },
    { name: 'dead IC', err: new VerifyError(Kind.WITHHELD, '', 'no certified message for 75 s'), title: /stopped answering/, todo: /Reconnect/ },
    { name: 'wrong root key', err: new VerifyError(Kind.BAD_CERTIFICATE, 'k', 'signature'), title: /cannot verify/, todo: /root key/ },
    { name: 'tampering gateway', err: new VerifyError(Kind.TAMPERED, 'k', 'witness'), title: /failed the tampered check/, todo: /another gateway/ },
    { name: 'canister closed', err: new CanisterClosedError('keep-alive timeout'), title: /canister ended the connection: keep-alive timeout/, todo: /Reload/ },
  ];
  for (const c of cases) {
    const got = explain(c.err);
    assert.match(got.title, c.title, c.name);
    assert.match(got.todo, c.todo, c.name);
    assert.equal(got.detail, c.err.message, `${c.name}: the detail is the error's own message`);
    assert.doesNotMatch(got.title + got.todo, /Config\.|at e\.|TrustError|undefined/, `${c.name}: plain words`);
  }
});

test('4009: origin not allowed, a code to stop at', () => {
  assert.equal(CLOSE_ORIGIN_NOT_ALLOWED, 4009);
  assert.equal(closeCodeReason(4009), 'origin not allowed');
  assert.equal(closeCodeReconnects(4009), false);
  const e = new CloseError(4009, 'origin http://127.0.0.1:5173 is not allowed: start the gateway with --allowed-origins http://127.0.0.1:5173');
  assert.equal(e.message, 'icws: gateway closed the connection: 4009 (origin not allowed): origin http://127.0.0.1:5173 is not allowed: start the gateway with --allowed-origins http://127.0.0.1:5173');
});
