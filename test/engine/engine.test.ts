/**
 * The engine's backend choice and its messages: a forced backend that does not exist or cannot load is one
 * clear sentence (an EngineError naming what is allowed or how to install it), never a stack trace; a
 * missing nativecpu build makes the automatic choice fall back with one line that says why and how to
 * build it. Cases that need a fresh process (the addon is loaded once per process) run in a child.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BACKENDS, EngineError, initEngine } from '../../src/engine/engine';
import { registerNativeCpu } from '../../src/engine/nativecpu';

/** The repository root (this file runs from test/engine under ts-node, from dist/test/engine once compiled). */
function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const ROOT = repoRoot();

/** Runs initEngine() in a fresh Node with `env` added; returns what it printed (one JSON line). */
function engineInChild(env: Record<string, string>): { ok: boolean; name?: string; message?: string; line?: string; backend?: string } {
  const script = `
    const { initEngine } = require('./src/engine/engine');
    initEngine().then(
      (e) => console.log(JSON.stringify({ ok: true, line: e.line, backend: e.backend })),
      (e) => console.log(JSON.stringify({ ok: false, name: e.name, message: e.message })));`;
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, TRANSFUSION_BACKEND: '', ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

test('the backend order puts nativecpu after tensorflow and before wasm and cpu', () => {
  assert.deepEqual(BACKENDS, ['tensorflow', 'nativecpu', 'wasm', 'cpu']);
});

test('an unknown forced backend is one EngineError sentence listing the allowed ones', async () => {
  await assert.rejects(initEngine({ backend: 'gpu' as 'cpu' }), (e: Error) => {
    assert.ok(e instanceof EngineError);
    assert.equal(e.message, 'initEngine({ backend })="gpu" is not a backend; allowed: tensorflow, nativecpu, wasm, cpu (or auto)');
    return true;
  });
  const saved = process.env.TRANSFUSION_BACKEND;
  process.env.TRANSFUSION_BACKEND = 'native_cpu';
  try {
    await assert.rejects(initEngine(), (e: Error) => e instanceof EngineError && /^TRANSFUSION_BACKEND="native_cpu" is not a backend; allowed: /.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.TRANSFUSION_BACKEND;
    else process.env.TRANSFUSION_BACKEND = saved;
  }
});

test('forcing tensorflow without tfjs-node says how to install it', async (t) => {
  try {
    require.resolve('@tensorflow/tfjs-node');
    t.skip('@tensorflow/tfjs-node is installed here');
    return;
  } catch {
    // the case under test
  }
  await assert.rejects(initEngine({ backend: 'tensorflow' }), (e: Error) => {
    assert.ok(e instanceof EngineError);
    assert.match(e.message, /^backend 'tensorflow' was forced but is not available \(.*not installed.*\); install it with `npm install @tensorflow\/tfjs-node-gpu`/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
});

test('forcing nativecpu without a build says how to build it', () => {
  const r = engineInChild({ TRANSFUSION_BACKEND: 'nativecpu', TRANSFUSION_NATIVECPU_ADDON: '/nonexistent/nativecpu.node' });
  assert.equal(r.ok, false);
  assert.equal(r.name, 'EngineError');
  assert.equal(r.message,
    "backend 'nativecpu' was forced but is not available (nativecpu unavailable: the nativecpu addon is not built " +
    '(no /nonexistent/nativecpu.node)); build it with `npm run build:native`, which needs g++, make and OpenBLAS: ' +
    'apt-get install g++ make libopenblas-dev');
});

test('a nativecpu build that fails to load falls back to wasm with one line saying why', () => {
  // Any file that is not a Node addon stands in for a build that cannot load (e.g. libopenblas missing);
  // the loader's own reason (here 'invalid ELF header' on Linux) is passed on.
  const r = engineInChild({ TRANSFUSION_NATIVECPU_ADDON: __filename });
  assert.equal(r.ok, true);
  assert.equal(r.backend, 'wasm');
  assert.match(r.line!, /^engine: wasm on CPU \(1 thread, WebAssembly SIMD\) \(first available; skipped: .*nativecpu unavailable: the nativecpu addon failed to load: .+ \(fix: build it with `npm run build:native`/);
  assert.ok(!r.line!.includes('\n'), 'one line');
});

test('with the addon built, nativecpu is the first CPU backend and its line says so', { skip: registerNativeCpu().ok ? false : 'nativecpu addon not built' }, () => {
  const r = engineInChild({});
  assert.equal(r.ok, true);
  // tfjs-node (tensorflow) would come first where it is installed.
  assert.match(r.line!, /^engine: (nativecpu on CPU \(\d+ threads, native kernels \+ OpenBLAS.*\)|tensorflow on )/);
});

test('a bad TRANSFUSION_THREADS is one clear error, not a silent fallback', { skip: registerNativeCpu().ok ? false : 'nativecpu addon not built' }, () => {
  const r = engineInChild({ TRANSFUSION_THREADS: 'two' });
  assert.equal(r.ok, false);
  assert.equal(r.message, 'TRANSFUSION_THREADS="two" is not a thread count; allowed: an integer >= 1');
});
