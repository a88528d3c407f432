// Builds the browser client and the demo page into web/dist, which is committed and embedded in
// the icws binary (package web). The output is deterministic, so CI rebuilds and compares:
//
//   node web/build.mjs           write web/dist
//   node web/build.mjs --check   fail if web/dist differs from what the sources build
//
// dist/icws.js   the client library (web/src/icws.js and its imports), one self-contained ES module
// dist/app.js    the demo page's script; it imports ./icws.js at run time
// dist/index.html, dist/style.css   copied from web/src
import { build } from 'esbuild';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const check = process.argv.includes('--check');

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'eof',
  charset: 'utf8',
  write: false,
  absWorkingDir: here,
  logLevel: 'warning',
};

// The demo imports the library as a separate module, so the page loads it once and dapps can
// take dist/icws.js as it is.
const libraryExternal = {
  name: 'icws-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/icws\.js$/ }, () => ({ path: './icws.js', external: true }));
  },
};

const outputs = new Map();
for (const [entry, out, plugins] of [
  ['src/icws.js', 'icws.js', []],
  ['src/app.js', 'app.js', [libraryExternal]],
]) {
  const res = await build({ ...common, entryPoints: [entry], outfile: path.join(dist, out), plugins });
  for (const f of res.outputFiles) outputs.set(path.basename(f.path), Buffer.from(f.contents));
}
for (const f of ['index.html', 'style.css']) outputs.set(f, await readFile(path.join(src, f)));

if (check) {
  const problems = [];
  const present = new Set(await readdir(dist).catch(() => []));
  for (const [name, want] of outputs) {
    const have = await readFile(path.join(dist, name)).catch(() => null);
    if (have === null) problems.push(`${name} is missing`);
    else if (!have.equals(want)) problems.push(`${name} differs from its build`);
    present.delete(name);
  }
  for (const name of present) problems.push(`${name} is not a build output`);
  if (problems.length) {
    console.error(`web/dist is out of date: ${problems.join('; ')}.\nRun: node web/build.mjs (then commit web/dist)`);
    process.exit(1);
  }
  console.log(`web/dist is up to date (${outputs.size} files)`);
} else {
  await rm(dist, { recursive: true, force: true });
  await mkdir(dist, { recursive: true });
  for (const [name, data] of outputs) await writeFile(path.join(dist, name), data);
  for (const [name, data] of outputs) console.log(`web/dist/${name}\t${data.length} bytes`);
}
