/**
 * `npm run speedrun` (scripts/speedrun.ts) refuses a bad flag before it trains anything, naming the flag, the value
 * and what is allowed: an evaluation sampler that does not exist must not end a run of many minutes at its
 * last step. (Its training and evaluation are the lab's, tested where they live.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

function run(args: string[]) {
  const script = __filename.endsWith('.ts')
    ? ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', '..', 'scripts', 'speedrun.ts')]
    : [path.join(__dirname, '..', '..', 'scripts', 'speedrun.js')];
  return spawnSync(process.execPath, [...script, ...args], { encoding: 'utf8', timeout: 120_000 });
}

test('speedrun refuses an unknown evaluation sampler, a bad step count and an unknown flag before training', () => {
  const sampler = run(['--eval-sampler', 'dpm++2m']);
  assert.equal(sampler.status, 1);
  assert.match(sampler.stderr, /--eval-sampler 'dpm\+\+2m' is not one of .*ddim.*dpmpp-2m/);
  assert.doesNotMatch(sampler.stdout, /"seed"/, 'nothing trained');
  const steps = run(['--eval-steps', '0']);
  assert.equal(steps.status, 1);
  assert.match(steps.stderr, /--eval-steps '0' is not a positive whole number/);
  const flag = run(['--eval', 'ddim']);
  assert.equal(flag.status, 1);
  assert.match(flag.stderr, /unknown flag '--eval' \(known: .*--eval-sampler, --eval-steps\)/);
});
