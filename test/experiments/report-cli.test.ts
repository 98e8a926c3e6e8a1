import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Run } from '../../src/experiments/run-record';

import { REPORT_COMMAND as COMMAND } from '../helpers/experiments';
let root: string;

before(async () => {
  root = fs.mkdtempSync(join(tmpdir(), 'tf-cli-'));
  const run = await Run.start({ name: 'cli', root, config: { steps: 2 }, seed: 0 });
  for (const step of [0, 1]) {
    run.logStep({ step, loss: 3 - step, breakdown: { lm: 2 - step, diffusion: 0.2 }, lr: 1e-4, gradNorm: 1, stepMs: 10, tokensPerSec: 100 });
  }
  await run.finish();
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function report(...args: string[]) {
  return spawnSync(process.execPath, [...COMMAND, ...args], { encoding: 'utf8' });
}

test('report CLI: writes <dir>/report.html and <dir>.zip and prints both paths', () => {
  const dir = join(root, 'cli');
  const out = report(dir);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout, `report: ${join(dir, 'report.html')}\nzip:    ${dir}.zip\n`);
  assert.match(fs.readFileSync(join(dir, 'report.html'), 'utf8'), /Run cli/);
  assert.equal(fs.readFileSync(`${dir}.zip`).readUInt32LE(0), 0x04034b50);
});

test('report CLI: a bad path or no path is one clear sentence and exit status 1', () => {
  const missing = report(join(root, 'nope'));
  assert.equal(missing.status, 1);
  assert.equal(missing.stdout, '');
  assert.equal(missing.stderr, `${join(root, 'nope')} does not exist\n`);
  const usage = report();
  assert.equal(usage.status, 1);
  assert.match(usage.stderr, /^usage: npm run report -- runs\/<name>/);
});
