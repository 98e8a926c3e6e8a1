import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { temporaryPath, writeFileAtomic } from '../../src/checkpoint/atomic';
import { readSafetensors, writeSafetensors } from '../../src/checkpoint/safetensors';
import { tempFolder } from './helpers';

const dir = tempFolder('atomic');

function previous(name: string): { path: string; bytes: Buffer } {
  const path = join(dir, name);
  writeSafetensors(path, { w: { dtype: 'F32', shape: [2], data: new Uint8Array(Float32Array.from([1, 2]).buffer) } }, { version: 'old' });
  return { path, bytes: readFileSync(path) };
}

test('a successful write replaces the file and leaves no temporary behind', () => {
  const { path } = previous('ok.safetensors');
  writeSafetensors(path, { w: { dtype: 'F32', shape: [1], data: new Uint8Array(4) } }, { version: 'new' });
  assert.equal(readSafetensors(path).metadata.version, 'new');
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('a write that throws midway (after the header is on disk) leaves the previous file intact', () => {
  const { path, bytes } = previous('midway.safetensors');
  const big = new Uint8Array(1 << 16);
  assert.throws(
    () => writeSafetensors(path, {
      a: { dtype: 'U8', shape: [big.length], data: big },
      b: { dtype: 'U8', shape: [4], data: () => { throw new Error('tensor disposed while saving'); } },
    }),
    /tensor disposed while saving/,
  );
  assert.deepEqual(readFileSync(path), bytes);
  assert.equal(readSafetensors(path).metadata.version, 'old');
  assert.equal(existsSync(temporaryPath(path)), false, 'temporary removed');
});

test('a failing rename keeps the target and removes the temporary', () => {
  const target = join(dir, 'occupied');
  mkdirSync(join(target, 'inside'), { recursive: true });
  assert.throws(() => writeFileAtomic(target, [new Uint8Array(3)]), /EISDIR|ENOTEMPTY|EEXIST|EPERM/);
  assert.ok(statSync(join(target, 'inside')).isDirectory());
  assert.equal(existsSync(temporaryPath(target)), false);
});

test('a process killed between writing and renaming leaves the previous file intact', async () => {
  const { path, bytes } = previous('killed.safetensors');
  const marker = join(dir, 'child-wrote-first-chunk');
  const atomic = resolve(__dirname, '../../src/checkpoint/atomic');
  // The child writes one chunk, says so, then blocks inside the write until it is killed.
  const script = `
    const { writeFileSync } = require('node:fs');
    const { writeFileAtomic } = require(${JSON.stringify(atomic)});
    function* chunks() {
      yield new Uint8Array(4096).fill(7);
      writeFileSync(${JSON.stringify(marker)}, String(process.pid));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
      yield new Uint8Array(1);
    }
    writeFileAtomic(${JSON.stringify(path)}, chunks());
  `;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_, signal) => done(signal)));
  const started = Date.now();
  while (!existsSync(marker)) {
    assert.ok(Date.now() - started < 60_000, 'child never reached its first chunk');
    await new Promise((r) => setTimeout(r, 50));
  }
  const tmp = `${path}.tmp-${readFileSync(marker, 'utf8')}`;
  assert.equal(statSync(tmp).size, 4096, 'the child was midway through its temporary file');
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.deepEqual(readFileSync(path), bytes);
  assert.equal(readSafetensors(path).metadata.version, 'old');
});
