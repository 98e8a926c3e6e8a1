import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import * as aq from 'arquero';
import { tf } from '../../src/engine/tf';
import { ConfigError } from '../../src/config';
import { readRecord } from '../../src/experiments/run-record';
import { sweep, SWEEP_FILE, type SweepManifest } from '../../src/experiments/sweep';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';

let root = '';
useTempRoot('tf-sweep-', (dir) => (root = dir));
const BASE = TINY_SPEC;
const GRID = { 'objective.lambda': [1, 2, 5, 10] };
const ARMS = ['lambda=1', 'lambda=2', 'lambda=5', 'lambda=10'];
const manifestOf = (name: string): SweepManifest => JSON.parse(fs.readFileSync(join(root, name, SWEEP_FILE), 'utf8'));
const metrics = (dir: string) => aq.fromCSV(fs.readFileSync(join(dir, 'metrics.csv'), 'utf8')).objects() as Record<string, number>[];

test('a sweep that crashed in arm 3 resumes: arms 1-2 are not rerun, arm 3 restarts, arm 4 runs', async () => {
  const tensors = tf.memory().numTensors;
  let steps: Record<string, number> = {};
  const onStep = (crashIn: string | null) => (_: unknown, run: { name: string }) => {
    steps[run.name] = (steps[run.name] ?? 0) + 1;
    if (run.name === crashIn && steps[run.name] === 2) throw new Error('simulated crash');
  };
  await assert.rejects(sweep(BASE, GRID, { name: 'crash', root, progress: false, onStep: onStep('lambda=5') }), /simulated crash/);
  assert.deepEqual(steps, { 'lambda=1': 3, 'lambda=2': 3, 'lambda=5': 2 });
  assert.deepEqual(manifestOf('crash').arms.map((a) => a.status), ['finished', 'finished', 'failed', 'pending']);
  const finishedAt = ['lambda=1', 'lambda=2'].map((a) => fs.statSync(join(root, 'crash', a, 'run.json')).mtimeMs);

  steps = {};
  const result = await sweep(BASE, GRID, { name: 'crash', root, progress: false, onStep: onStep(null) });
  assert.equal(result.status, 'finished');
  assert.deepEqual(result.skipped, ['lambda=1', 'lambda=2']);
  assert.deepEqual(result.ran, ['lambda=5', 'lambda=10']);
  assert.deepEqual(steps, { 'lambda=5': 3, 'lambda=10': 3 }, 'the crashed arm restarts from step 0 (it had no checkpoint)');
  assert.deepEqual(['lambda=1', 'lambda=2'].map((a) => fs.statSync(join(root, 'crash', a, 'run.json')).mtimeMs), finishedAt);

  const manifest = manifestOf('crash');
  assert.equal(manifest.format, 'transfusion-lab/sweep@1');
  assert.deepEqual(manifest.grid, GRID);
  assert.deepEqual(manifest.arms.map((a) => [a.name, a.status, a.values['objective.lambda']]), ARMS.map((a, i) => [a, 'finished', GRID['objective.lambda'][i]]));
  for (const [i, arm] of ARMS.entries()) {
    const record = readRecord<{ model: { objective: { lambda: number } } }>(join(root, 'crash', arm));
    assert.equal(record.config.model.objective.lambda, GRID['objective.lambda'][i]);
    assert.deepEqual(record.arm, { label: arm, values: { 'objective.lambda': GRID['objective.lambda'][i] } });
    assert.equal(metrics(join(root, 'crash', arm)).length, 3);
  }
  // lambda multiplies only the diffusion term: same seed, same data, so lm at step 0 is equal across arms.
  const firstLm = ARMS.map((a) => metrics(join(root, 'crash', a))[0].lm);
  assert.ok(firstLm.every((v) => v === firstLm[0]), String(firstLm));
  assert.equal(tf.memory().numTensors, tensors);
});

test('an arm with a checkpoint goes on from it and matches the arm run unbroken; seeds repeat every arm', async () => {
  let crashed = false;
  const options = { name: 'resume', root, progress: false as const, seeds: [0, 1], checkpointEvery: 1 };
  await assert.rejects(sweep(BASE, { 'objective.lambda': [2] }, {
    ...options,
    onStep: (r, run) => {
      if (run.name === 'lambda=2,seed=1' && r.step === 1 && !crashed) {
        crashed = true;
        throw new Error('simulated crash');
      }
    },
  }), /simulated crash/);
  const result = await sweep(BASE, { 'objective.lambda': [2] }, options);
  assert.deepEqual(result.skipped, ['lambda=2,seed=0']);
  assert.deepEqual(result.ran, ['lambda=2,seed=1']);
  const record = readRecord(join(root, 'resume', 'lambda=2,seed=1'));
  assert.deepEqual(record.resumed.map((r) => r.step), [2]);
  assert.equal(record.seed, 1);

  const unbroken = await sweep(BASE, { 'objective.lambda': [2] }, { ...options, name: 'unbroken' });
  assert.deepEqual(unbroken.ran, ['lambda=2,seed=0', 'lambda=2,seed=1']);
  assert.deepEqual(metrics(join(root, 'resume', 'lambda=2,seed=1')).map((r) => r.loss), metrics(join(root, 'unbroken', 'lambda=2,seed=1')).map((r) => r.loss));
  assert.notDeepEqual(metrics(join(root, 'unbroken', 'lambda=2,seed=0')).map((r) => r.loss), metrics(join(root, 'unbroken', 'lambda=2,seed=1')).map((r) => r.loss));
});

test('a sweep folder whose runs had another base config is refused, naming the fields that changed', async () => {
  await assert.rejects(
    sweep({ ...BASE, steps: 2 }, { 'objective.lambda': [1] }, { name: 'crash', root, progress: false }),
    (e: unknown) => e instanceof ConfigError && /sweep\.name: got "crash".*base config changed at steps \(3 -> 2\)/.test((e as Error).message),
  );
  await assert.rejects(sweep(BASE, { 'objective.lamda': [1] }, { name: 'typo', root }), (e: unknown) => e instanceof ConfigError && /objective\.lamda/.test((e as Error).message));
  assert.equal(fs.existsSync(join(root, 'typo')), false, 'a bad path fails before the sweep folder is made');
});
