/**
 * `npm run bench:eval` (bench/eval.ts) runs end to end: one JSON line per sampler setting with the evaluation row
 * and its parts' seconds, then a Markdown table. --quick (10 images, 10 captions, 2 steps, an untrained model)
 * checks structure only and never asserts a speed; a bad flag names itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** The harness as this test runs: bench/eval.ts under ts-node, dist/bench/eval.js once compiled. */
function harness(): string[] {
  if (__filename.endsWith('.ts')) return ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', '..', 'bench', 'eval.ts')];
  return [path.join(__dirname, '..', '..', 'bench', 'eval.js')];
}

function run(args: string[]) {
  return spawnSync(process.execPath, [...harness(), ...args], { encoding: 'utf8', env: { ...process.env, TRANSFUSION_THREADS: '1' }, timeout: 300_000 });
}

test('bench:eval --quick times two settings part by part and prints their rows and a table', () => {
  const r = run(['--quick', '--setting', '{"steps":50,"sampler":"ddim"}', '--setting', '{"steps":10,"sampler":"dpmpp-2m"}']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.equal(json.length, 3, r.stdout);
  assert.equal(json[0].quick, true);
  for (const [k, kind] of [[1, 'ddim'], [2, 'dpmpp-2m']] as const) {
    const { setting, row, seconds } = json[k];
    assert.equal(setting.sampler, kind);
    assert.equal(row.sampler, kind, 'the row says which sampler scored it');
    assert.equal(row.steps, 2, '--quick runs 2 steps whatever the setting');
    for (const part of ['total', 't2i', 'caption', 'rest']) assert.ok(seconds[part] >= 0 && Number.isFinite(seconds[part]), `${part}: ${seconds[part]}`);
    assert.ok(Math.abs(seconds.total - seconds.t2i - seconds.caption - seconds.rest) < 1e-6);
    assert.ok(seconds.t2i > 0 && seconds.caption > 0, 'both generators were timed');
  }
  const table = lines.filter((l) => l.startsWith('|'));
  assert.equal(table.length, 4, r.stdout);
  assert.match(table[2], /^\| ddim \| 2 \|/);
  assert.match(table[3], /^\| dpmpp-2m \| 2 \|/);
});

test('bench:eval refuses a setting that is not JSON or has no steps, naming it', () => {
  const notJson = run(['--setting', 'ddim']);
  assert.equal(notJson.status, 1);
  assert.match(notJson.stderr, /--setting 'ddim' is not JSON/);
  const noSteps = run(['--setting', '{"sampler":"ddim"}']);
  assert.equal(noSteps.status, 1);
  assert.match(noSteps.stderr, /needs "steps", a positive integer/);
});
