/**
 * `npm run bench` (bench/train.ts, bench/report.ts, bench/torch_reference.py) runs end to end and prints what issue
 * #17 asks for: a row per side and thread count with median and min-max over the repeats, sgemm rate, MFU, sampling
 * rate and peak memory, each side's best setting, the ratios best vs best and 1 thread vs 1 thread, and a final
 * JSON line. The end-to-end case runs --quick (1 thread, 1 repeat of 1 step, 2 images of 2 DDIM steps) and never
 * asserts a speed: this checks structure only. The report's arithmetic is checked on made-up timings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { registerNativeCpu } from '../../src/engine/nativecpu';
import { TABLE_COLUMNS, buildReport, formatReport, spread, type ChildResult, type Outcome } from '../../bench/report';
import { parseArgs } from '../../bench/train';

const PYTHON = '/usr/bin/python3';

/** Why PyTorch's side cannot run here, or null. */
function noTorch(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PYTHON} cannot import torch (apt-get install python3-torch)`;
}

/** The harness as this test runs: bench/train.ts under ts-node, dist/bench/train.js once compiled. */
function harness(): string[] {
  if (__filename.endsWith('.ts')) return ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', '..', 'bench', 'train.ts')];
  return [path.join(__dirname, '..', '..', 'bench', 'train.js')];
}

function child(side: ChildResult['side'], threads: number, stepMs: number[], batchMs: number[] | null): Outcome {
  return {
    side, threads, result: {
      side, impl: side, threads, params: 3423248, seq: 129, batch: 16, steps: 5, step_ms: stepMs,
      sgemm: { n: 2048, gflops: 100 * threads }, peak_rss_train_mb: 500, peak_rss_mb: 600,
      sampling: batchMs && { images: 16, steps: 50, guidance: 3, batch_ms: batchMs },
    },
  };
}

test('spread: median (middle pair averaged), min and max', () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
  assert.throws(() => spread([]), /no values/);
});

test('the report takes each side\'s best setting, 1 thread vs 1 thread, MFU at the median, and names skipped settings', () => {
  const flops = 1e9;
  const report = buildReport([
    child('pytorch', 1, [100, 90, 110], [1000, 1100, 900]),
    child('nativecpu', 1, [200, 180, 220], [2000, 2000, 2000]),
    child('pytorch', 2, [150, 150, 150], [800, 800, 800]),
    child('nativecpu', 2, [80, 80, 80], [4000, 4000, 4000]),
    { side: 'pytorch', threads: 3, skipped: 'cannot start' },
  ], flops);
  const [p1, , , n2, p3] = report.settings;
  assert.deepEqual(p1.step_ms, { median: 100, min: 90, max: 110 });
  // tokens/s per repeat: 16 * 129 * 1000 / ms; the fastest repeat is the max.
  assert.equal(p1.tokens_per_s!.median, 20640);
  assert.equal(p1.tokens_per_s!.max, +(2064000 / 90).toFixed(1));
  assert.equal(p1.model_gflops, 10); // 1 GFLOP in 100 ms
  assert.equal(p1.mfu, 0.1); // of the 100 GFLOP/s sgemm
  assert.deepEqual(p1.sample_ms_per_image, { median: 62.5, min: 56.3, max: 68.8 });
  assert.equal(n2.mfu, +((1 / 0.08) / 200).toFixed(4));
  assert.equal(p3.skipped, 'cannot start');
  assert.deepEqual(report.best.pytorch.train, { threads: 1, tokens_per_s: 20640 });
  assert.deepEqual(report.best.nativecpu.train, { threads: 2, tokens_per_s: 25800 });
  assert.deepEqual(report.best.pytorch.sample, { threads: 2, images_per_s: 20 });
  assert.equal(report.ratio.train_best, 1.25);
  assert.equal(report.ratio.train_1thread, 0.5);
  assert.equal(report.ratio.sample_best, +(8 / 20).toFixed(3));
  assert.equal(report.ratio.sample_1thread, +(8 / (16000 / 1000)).toFixed(3));
  const text = formatReport(report);
  assert.match(text, /\| pytorch \| 3 \| skipped: cannot start \|/);
  assert.match(text, /ratio nativecpu \/ pytorch, training: best vs best 1\.250x; 1 thread vs 1 thread 0\.500x/);
});

test('a side that did not run leaves its ratios null, not a number', () => {
  const report = buildReport([child('nativecpu', 1, [100], null)], 1e9);
  assert.deepEqual(report.ratio, { train_best: null, train_1thread: null, sample_best: null, sample_1thread: null });
  assert.match(formatReport(report), /best vs best n\/a/);
});

test('options: --quick is one thread, one repeat; a bad value names its flag', () => {
  const q = parseArgs(['--quick']);
  assert.deepEqual([q.threads, q.repeats, q.steps], [[1], 1, 1]);
  assert.deepEqual(parseArgs(['--threads', '1,2', '--repeats', '4']).threads, [1, 2]);
  assert.throws(() => parseArgs(['--threads', '0']), /--threads: got "0"/);
  assert.throws(() => parseArgs(['--sides', 'jax']), /--sides: got "jax"/);
  assert.throws(() => parseArgs(['--frobnicate']), /unknown option "--frobnicate"/);
});

const skip = !registerNativeCpu().ok ? 'the nativecpu addon is not built (npm run build:native)' : noTorch() ?? false;

test('--quick runs both sides end to end and prints the table, the best settings, the ratios and a JSON line', { skip, timeout: 600_000 }, () => {
  const r = spawnSync(process.execPath, [...harness(), '--quick', '--threads', '1'], { encoding: 'utf8', env: { ...process.env, TRANSFUSION_BACKEND: '' } });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], `| ${TABLE_COLUMNS.join(' | ')} |`);
  for (const side of ['pytorch', 'nativecpu']) {
    const row = lines.find((l) => l.startsWith(`| ${side} | 1 |`));
    assert.ok(row, `a row for ${side} at 1 thread in:\n${r.stdout}`);
    assert.doesNotMatch(row!, /skipped/);
    assert.equal(row!.split('|').length - 2, TABLE_COLUMNS.length);
    assert.match(row!, /\d+(\.\d+)? \(\d+(\.\d+)?-\d+(\.\d+)?\)/, 'median (min-max)');
  }
  assert.ok(lines.some((l) => /^ratio nativecpu \/ pytorch, training: best vs best \d+\.\d{3}x; 1 thread vs 1 thread \d+\.\d{3}x$/.test(l)));
  assert.ok(lines.some((l) => /^ratio nativecpu \/ pytorch, sampling: best vs best \d+\.\d{3}x; 1 thread vs 1 thread \d+\.\d{3}x$/.test(l)));
  const json = JSON.parse(lines[lines.length - 1]);
  assert.equal(json.bench, 'tiny');
  assert.ok(json.flops_per_step > 0);
  assert.deepEqual(json.options.threads, [1]);
  assert.equal(json.settings.length, 2);
  for (const s of json.settings) {
    for (const key of ['tokens_per_s', 'step_ms', 'sample_images_per_s', 'sample_ms_per_image']) {
      const v = s[key];
      assert.ok(v.min <= v.median && v.median <= v.max && v.min > 0, `${s.side}.${key}: ${JSON.stringify(v)}`);
    }
    assert.equal(s.threads, 1);
    assert.equal(s.repeats, 1);
    assert.ok(s.sgemm_gflops > 0 && s.mfu > 0 && s.model_gflops > 0, JSON.stringify(s));
    assert.ok(s.peak_rss_mb >= s.peak_rss_train_mb && s.peak_rss_train_mb > 0);
  }
  // The same model on both sides: the same parameter count; and no tensor left behind by the lab's steps.
  assert.equal(json.settings[0].params, json.settings[1].params);
  assert.equal(json.settings.find((s: { side: string }) => s.side === 'nativecpu').tensor_drift, 0);
  for (const side of ['pytorch', 'nativecpu']) {
    assert.equal(json.best[side].train.threads, 1);
    assert.equal(json.best[side].sample.threads, 1);
  }
  for (const key of ['train_best', 'train_1thread', 'sample_best', 'sample_1thread']) assert.equal(typeof json.ratio[key], 'number', key);
});
