// Node tests of the npm package: every runtime export of dist/icws.js is declared in icws.d.ts
// and every declared value exists. Run: node --test web/test/package.test.mjs
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

const here = new URL('..', import.meta.url);

test('package: icws.d.ts declares exactly the runtime exports of dist/icws.js', async () => {
  const lib = await import(new URL('dist/icws.js', here).href);
  const dts = await readFile(new URL('icws.d.ts', here), 'utf8');
  const declared = new Set([...dts.matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]));
  if (/^export default \w+;$/m.test(dts)) declared.add('default');
  const runtime = new Set(Object.keys(lib));
  assert.ok(runtime.size > 10, `dist/icws.js exports ${runtime.size} names`);
  assert.deepEqual([...runtime].filter((n) => !declared.has(n)).sort(), [], 'exported but not declared');
  assert.deepEqual([...declared].filter((n) => !runtime.has(n)).sort(), [], 'declared but not exported');
});

test('package: package.json points at the files it ships', async () => {
  const pkg = JSON.parse(await readFile(new URL('package.json', here), 'utf8'));
  assert.equal(pkg.name, 'icws');
  assert.equal(pkg.type, 'module');
  const dot = pkg.exports['.'];
  assert.equal(Object.keys(dot)[0], 'types', 'types must come first in the export conditions');
  for (const f of [dot.types, dot.import, dot.default, pkg.types, pkg.main]) {
    await readFile(new URL(f, here)); // throws if missing
    assert.ok(pkg.files.includes(f.replace(/^\.\//, '')), `${f} is in files`);
  }
  // Node resolves the package by its exports, as a dapp's bundler does.
  const lib = await import(new URL(dot.import, here).href);
  assert.equal(typeof lib.IcWebSocket.connect, 'function');
});
