#!/usr/bin/env node
/**
 * Builds the nativecpu addon (native/ -> native/build/Release/nativecpu.node) with node-gyp.
 *
 *   node scripts/build-native.js            npm's postinstall: a failed build prints one line and exits 0,
 *                                           so `npm install` works on machines without g++ or OpenBLAS
 *                                           (the engine then falls back to wasm and says why)
 *   node scripts/build-native.js --strict   `npm run build:native`: shows the compiler output, exits 1 on failure
 *
 * Needs a C++17 compiler, make, Python 3 (node-gyp) and OpenBLAS; on Debian/Ubuntu:
 * apt-get install g++ make libopenblas-dev. Set NATIVECPU_MARCH (e.g. x86-64-v3) for a build that will be
 * copied to other machines; the default tunes for this one.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const strict = process.argv.includes('--strict');
const nativeDir = path.resolve(__dirname, '..', 'native');
const log = path.join(nativeDir, 'build', 'build-native.log');

/**
 * node-gyp compiles against the running Node's headers. Distribution packages (Debian's nodejs) and the
 * official tarballs ship them beside the binary; using them avoids a download from nodejs.org, which an
 * offline install cannot make.
 */
function nodeDirArgs() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/** The likeliest cause of a failed build, from its output, as a short clause. */
function diagnose(output) {
  if (/cannot find -lopenblas/i.test(output)) return 'OpenBLAS is missing (apt-get install libopenblas-dev)';
  if (/not found: make/i.test(output)) return 'make is missing (apt-get install make)';
  if (/Error 127|(g\+\+|c\+\+): (command )?not found/i.test(output)) return 'no C++ compiler (apt-get install g++)';
  if (/Could not find any Python/i.test(output)) return 'node-gyp needs Python 3';
  if (/gyp ERR!.*(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT)/.test(output)) {
    return 'the Node headers are not installed and could not be downloaded';
  }
  const line = output.split('\n').find((l) => /\berror\b/i.test(l) && !/^gyp (info|ERR! (stack|System|command|cwd|node))/.test(l));
  return line ? line.trim().slice(0, 200) : 'node-gyp failed';
}

function main() {
  let gyp;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return finish(false, 'node-gyp is not installed (run `npm ci`)');
  }
  const args = [gyp, 'rebuild', '--jobs=max', ...nodeDirArgs()];
  const run = spawnSync(process.execPath, args, {
    cwd: nativeDir,
    encoding: 'utf8',
    stdio: strict ? 'inherit' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? String(run.error) : ''}`;
  if (!strict) {
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(log, output);
  }
  const ok = run.status === 0 && fs.existsSync(path.join(nativeDir, 'build', 'Release', 'nativecpu.node'));
  return finish(ok, ok ? '' : diagnose(output));
}

function finish(ok, why) {
  if (ok) {
    console.log('nativecpu: built native/build/Release/nativecpu.node (the engine will use it)');
    return 0;
  }
  const where = strict ? '' : ` (full output in ${path.relative(process.cwd(), log)})`;
  console.log(`nativecpu: addon not built: ${why}${where}; the lab runs on the wasm backend instead`);
  return strict ? 1 : 0;
}

process.exitCode = main();
