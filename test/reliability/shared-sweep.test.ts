/**
 * Two processes on one sweep share it: a second process running the same sweep (same base, grid and seeds) joins
 * the first instead of being refused, each arm trains once, and both calls end with every arm finished; a run
 * held by another live process is waited for with `resume: true`, and refused otherwise (lock.ts, sweep.ts).
 *
 * The other process is real: a child node process running the sweep from this build, each of its steps slowed so
 * that this process meets its arm held.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FolderLockedError } from '../../src/experiments/lock';
import { loadRun } from '../../src/experiments/load-run';
import { readRecord } from '../../src/experiments/run-record';
import { planId, sweep, SWEEP_FILE, type SweepGrid, type SweepManifest } from '../../src/experiments/sweep';
import { resolveExperiment } from '../../src/experiments/experiment-config';
import { trainRun } from '../../src/experiments/train-run';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';

let root = '';
useTempRoot('tf-shared-sweep-', (dir) => (root = dir));

const children: ChildProcess[] = [];
after(() => children.forEach((c) => c.kill('SIGKILL')));

/** Node's arguments to load this build's sources: compiled JavaScript as it is, TypeScript through ts-node. */
const LOADER = __filename.endsWith('.js') ? [] : ['-r', 'ts-node/register/transpile-only'];
const SRC = join(__dirname, '../../src');

interface ChildResult {
  readonly status: string;
  readonly ran: string[];
  readonly skipped: string[];
  readonly waited: string[];
}

/**
 * `sweep(TINY_SPEC, grid, { name, root })` in a child process whose every step takes `stepMs` longer; it touches
 * `started` at its first step. Resolves with its result.
 */
function sweepInChild(grid: SweepGrid, name: string, started: string, stepMs: number): Promise<ChildResult> {
  const script = `
    const fs = require('node:fs');
    const { initEngine } = require(${JSON.stringify(join(SRC, 'engine', 'engine'))});
    const { sweep } = require(${JSON.stringify(join(SRC, 'experiments', 'sweep'))});
    const pause = new Int32Array(new SharedArrayBuffer(4));
    (async () => {
      await initEngine();
      const onStep = () => {
        if (!fs.existsSync(${JSON.stringify(started)})) fs.writeFileSync(${JSON.stringify(started)}, '');
        Atomics.wait(pause, 0, 0, ${stepMs});
      };
      const r = await sweep(${JSON.stringify(TINY_SPEC)}, ${JSON.stringify(grid)}, { name: ${JSON.stringify(name)}, root: ${JSON.stringify(root)}, progress: false, onStep });
      process.stdout.write(JSON.stringify({ status: r.status, ran: r.ran, skipped: r.skipped, waited: r.waited }));
    })().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
  `;
  const child = spawn(process.execPath, [...LOADER, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((done, fail) => child.on('exit', (code) => (code === 0 ? done(JSON.parse(out) as ChildResult) : fail(new Error(`child sweep exited ${code}: ${err}`)))));
}

async function until(path: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fs.existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} did not appear in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a second process running the same sweep joins it: each arm trains once, in one process or the other, and both end with every arm finished', async () => {
  const grid = { 'objective.lambda': [1, 2, 3, 4] };
  const started = join(root, 'child-started');
  const child = sweepInChild(grid, 'shared', started, 400);
  await until(started);
  const here = await sweep(TINY_SPEC, grid, { name: 'shared', root, progress: false });
  const there = await child;
  const arms = ['lambda=1', 'lambda=2', 'lambda=3', 'lambda=4'];
  assert.equal(here.status, 'finished');
  assert.equal(there.status, 'finished');
  // The child held lambda=1 when this process came: it trained it, and this process did not.
  assert.ok(there.ran.includes('lambda=1'), `child ran ${there.ran}`);
  assert.ok(!here.ran.includes('lambda=1'), `this process ran ${here.ran}`);
  assert.ok(here.ran.length > 0, 'this process trained the arms nobody held');
  assert.deepEqual([...here.ran, ...there.ran].sort(), arms, 'every arm trained exactly once');
  for (const arm of arms) {
    assert.equal(readRecord(join(root, 'shared', arm)).status, 'finished', arm);
    assert.equal(loadRun(join(root, 'shared', arm)).history.length, 3, arm);
  }
  const manifest = JSON.parse(fs.readFileSync(join(root, 'shared', SWEEP_FILE), 'utf8')) as SweepManifest;
  assert.deepEqual(manifest.arms.map((a) => [a.name, a.status]), arms.map((a) => [a, 'finished']));
  assert.equal(fs.existsSync(join(root, 'shared', '.lock')), false, 'the folder is free again');
});

test('a sweep of another plan is still refused while a live process holds the folder, naming it', async () => {
  const grid = { 'objective.lambda': [1, 2] };
  const started = join(root, 'child-started-2');
  const child = sweepInChild(grid, 'other-plan', started, 400);
  await until(started);
  await assert.rejects(
    sweep(TINY_SPEC, { 'objective.lambda': [1, 3] }, { name: 'other-plan', root, progress: false }),
    (e: unknown) => e instanceof FolderLockedError && new RegExp(`other-plan is in use by pid \\d+ on host ${hostname()} \\(sweep other-plan \\(plan [0-9a-f]{12}\\)`).test((e as Error).message),
  );
  assert.equal((await child).status, 'finished');
  assert.equal(fs.existsSync(join(root, 'other-plan', 'lambda=3')), false);
});

test('the plan id changes with the grid, the seeds and the base, not with the base seed', () => {
  const base = resolveExperiment(TINY_SPEC);
  const id = planId(base, { 'objective.lambda': [1, 2] }, [0, 1]);
  assert.match(id, /^[0-9a-f]{12}$/);
  assert.equal(planId({ ...base, seed: 7 }, { 'objective.lambda': [1, 2] }, [0, 1]), id);
  assert.notEqual(planId(base, { 'objective.lambda': [1, 3] }, [0, 1]), id);
  assert.notEqual(planId(base, { 'objective.lambda': [1, 2] }, [0, 2]), id);
  assert.notEqual(planId(resolveExperiment({ ...TINY_SPEC, steps: 4 }), { 'objective.lambda': [1, 2] }, [0, 1]), id);
});

test('trainRun with resume: true waits while another process trains the run, then goes on; without resume it is refused', async () => {
  const started = join(root, 'child-started-3');
  const child = sweepInChild({ 'objective.lambda': [5] }, 'waited', started, 400);
  await until(started);
  const dir = join(root, 'waited', 'lambda=5');
  const spec = { ...TINY_SPEC, model: { ...TINY_SPEC.model, objective: { lambda: 5 } }, root: join(root, 'waited'), name: 'lambda=5', progress: false } as const;
  await assert.rejects(trainRun({ ...spec }), (e: unknown) => e instanceof FolderLockedError && /lambda=5 is in use by pid \d+/.test((e as Error).message));
  const resumed = await trainRun({ ...spec, resume: true, arm: { label: 'lambda=5', values: { 'objective.lambda': 5 } } });
  assert.equal(resumed.reused, true, 'the run the other process finished is loaded, not trained again');
  resumed.dispose();
  assert.equal((await child).ran.join(), 'lambda=5');
  assert.equal(loadRun(dir).history.length, 3);
});

test('a wait for another process ends, with nothing trained, when shouldStop turns true', async () => {
  const started = join(root, 'child-started-4');
  const child = sweepInChild({ 'objective.lambda': [6] }, 'stopped', started, 400);
  await until(started);
  let polls = 0;
  await assert.rejects(
    trainRun({ ...TINY_SPEC, model: { ...TINY_SPEC.model, objective: { lambda: 6 } }, root: join(root, 'stopped'), name: 'lambda=6', progress: false, resume: true, shouldStop: () => ++polls > 0 }),
    /lambda=6: stopped while waiting for another process to let go of the run; nothing was trained/,
  );
  assert.equal((await child).status, 'finished');
});
