// Compiles a Motoko actor with an npm motoko package: node moc.cjs <package dir> <in.mo> <out.wasm>
const fs=require('fs');const [pkg,src,out]=process.argv.slice(2);
const mo=require(require('path').resolve(pkg));
mo.write('/main.mo', fs.readFileSync(src,'utf8'));
try { const r=mo.wasm('/main.mo','ic'); fs.writeFileSync(out, Buffer.from(r.wasm)); } catch(e){ console.log(String(e).slice(0,1500)); console.log(JSON.stringify(mo.check('/main.mo')).slice(0,1500)); process.exit(1) }
