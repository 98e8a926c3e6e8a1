import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as aq from 'arquero';
import { ConfigError } from '../../src/config';
import { engineInfo, initEngine } from '../../src/engine/engine';
import type { StepReport } from '../../src/train/trainer';
import { writeRunFile } from '../../src/experiments/atomic';
import { RECORDED_PACKAGES } from '../../src/experiments/provenance';
import { METRIC_COLUMNS, Run, readRecord } from '../../src/experiments/run-record';

let root: string;
before(async () => {
  await initEngine();
  root = fs.mkdtempSync(join(tmpdir(), 'tf-runs-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function report(step: number, extra: Record<string, number> = {}): StepReport {
  return {
    step, loss: 10 - step * 0.5, breakdown: { lm: 5 - step * 0.1, diffusion: 1 - step * 0.08, ...extra },
    lr: 1e-4 * (step + 1), gradNorm: 2 + step, stepMs: 100 + step, tokensPerSec: 1000 + step,
  };
}

const readJson = (path: string) => JSON.parse(fs.readFileSync(path, 'utf8'));

/** The version of `pkg` in the nearest node_modules above this file, or null. */
function installedVersion(pkg: string): string | null {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', pkg, 'package.json');
    if (fs.existsSync(manifest)) return readJson(manifest).version;
    if (dirname(dir) === dir) return null;
  }
}

test('a run record holds config, seed, engine, versions, commit, times, status, metrics (CSV = Arrow), evals and samples', async () => {
  const config = { model: { lambda: 5 }, steps: 3 };
  const run = await Run.start({ name: 'record', root, config, seed: 7 });
  const dir = join(root, 'record');
  const started = readJson(join(dir, 'run.json'));
  assert.equal(started.status, 'running');
  assert.equal(started.endedAt, null);
  assert.deepEqual(started.config, config);
  assert.equal(started.seed, 7);
  assert.equal(started.engine, engineInfo()!.line);
  assert.equal(started.packages['transfusion-lab'], readJson(join(__dirname, '../../package.json')).version);
  for (const pkg of RECORDED_PACKAGES) assert.equal(started.packages[pkg], installedVersion(pkg), pkg);
  assert.equal(started.packages['@tensorflow/tfjs'], '4.22.0');
  let head: string | null = null;
  try {
    head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: join(__dirname, '../..'), encoding: 'utf8' }).trim();
  } catch {
    head = null;
  }
  assert.equal(started.git.commit, head);
  assert.equal(started.runtime.node, process.version);

  const reports = [report(0), report(1), report(2, { extra: 0.25 })];
  reports.forEach((r) => run.logStep(r));
  run.addEval({ fid: 12.5, t2i_accuracy: 0.3, n: 10 });
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  const samplePath = await run.saveSamples('final', png);
  await run.finish();

  const record = readRecord(dir);
  assert.equal(record.status, 'finished');
  assert.equal(record.error, null);
  assert.equal(record.steps, 3);
  assert.ok(Date.parse(record.endedAt!) >= Date.parse(record.startedAt));
  assert.ok(record.seconds! >= 0);
  assert.equal(typeof record.cpuSeconds, 'number');

  const csv = aq.fromCSV(fs.readFileSync(join(dir, 'metrics.csv'), 'utf8'));
  assert.deepEqual(csv.columnNames(), [...METRIC_COLUMNS, 'extra']);
  const rows = csv.objects() as Record<string, number | null>[];
  reports.forEach((r, i) => {
    assert.deepEqual(rows[i], {
      step: r.step, loss: r.loss, lm: r.breakdown.lm, diffusion: r.breakdown.diffusion, lr: r.lr,
      gradNorm: r.gradNorm, stepMs: r.stepMs, tokensPerSec: r.tokensPerSec, extra: r.breakdown.extra ?? null,
    });
  });
  const arrow = aq.fromArrow(fs.readFileSync(join(dir, 'metrics.arrow')));
  assert.deepEqual(arrow.objects(), rows);

  assert.deepEqual(readJson(join(dir, 'eval.json')), [{ trainStep: 3, fid: 12.5, t2i_accuracy: 0.3, n: 10 }]);
  assert.deepEqual(aq.fromCSV(fs.readFileSync(join(dir, 'eval.csv'), 'utf8')).objects(), [{ trainStep: 3, fid: 12.5, t2i_accuracy: 0.3, n: 10 }]);
  assert.equal(samplePath, join(dir, 'samples', 'final.png'));
  assert.deepEqual(fs.readFileSync(samplePath), png);
  assert.throws(() => run.logStep(report(3)), /after the run ended \(status finished\)/);
});

test('metrics reach the disk every flushEvery steps, so a crash keeps the curve up to there', async () => {
  const run = await Run.start({ name: 'flush', root, config: {}, seed: 0, flushEvery: 2 });
  const csv = join(root, 'flush', 'metrics.csv');
  run.logStep(report(0));
  assert.equal(fs.existsSync(csv), false);
  run.logStep(report(1));
  assert.equal(aq.fromCSV(fs.readFileSync(csv, 'utf8')).numRows(), 2);
  run.logStep(report(2));
  assert.equal(aq.fromCSV(fs.readFileSync(csv, 'utf8')).numRows(), 2);
  await run.fail(new RangeError('boom'));
  const record = readRecord(join(root, 'flush'));
  assert.equal(record.status, 'failed');
  assert.equal(record.error, 'RangeError: boom');
  assert.equal(aq.fromCSV(fs.readFileSync(csv, 'utf8')).numRows(), 3, 'ending the run writes every row');
});

test('an interrupted write leaves the previous file whole and no temporary file behind', async () => {
  const run = await Run.start({ name: 'atomic', root, config: { v: 1 }, seed: 0 });
  const dir = join(root, 'atomic');
  const before = fs.readFileSync(join(dir, 'run.json'), 'utf8');
  const rename = fs.renameSync;
  fs.renameSync = () => {
    throw Object.assign(new Error('simulated crash before the rename'), { code: 'EIO' });
  };
  try {
    await assert.rejects(run.finish(), /simulated crash/);
    assert.throws(() => writeRunFile(join(dir, 'run.json'), 'garbage'), /simulated crash/);
  } finally {
    fs.renameSync = rename;
  }
  assert.equal(fs.readFileSync(join(dir, 'run.json'), 'utf8'), before);
  assert.equal(readRecord(dir).status, 'running');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('names are single folder names; an existing run is replaced, or refused with ifExists: error', async () => {
  for (const bad of ['', '..', '.hidden', 'a/b', 'a b', '-x']) {
    await assert.rejects(Run.start({ name: bad, root, config: {}, seed: 0 }), (e: unknown) => e instanceof ConfigError && /^run\.name/.test((e as Error).message), bad);
  }
  await assert.rejects(Run.start({ name: 'x', root, config: { big: 1n }, seed: 0 }), (e: unknown) => e instanceof ConfigError && /run\.config/.test((e as Error).message));
  const first = await Run.start({ name: 'again', root, config: {}, seed: 0 });
  await first.saveSamples('old', Buffer.from([1]));
  await first.finish();
  await assert.rejects(Run.start({ name: 'again', root, config: {}, seed: 0, ifExists: 'error' }), (e: unknown) => e instanceof ConfigError && /run\.name: got "again"/.test((e as Error).message));
  const second = await Run.start({ name: 'again', root, config: {}, seed: 1 });
  assert.equal(fs.existsSync(join(root, 'again', 'samples', 'old.png')), false);
  assert.equal(readRecord(join(root, 'again')).seed, 1);
  await assert.rejects(second.saveSamples('../escape', Buffer.from([1])), /saveSamples\.name/);
});

test('Run.resume keeps the checkpoint\'s history, drops later evaluations and notes the resume', async () => {
  const run = await Run.start({ name: 'resumed', root, config: { a: 1 }, seed: 3, arm: { label: 'a=1', values: { a: 1 } } });
  for (let s = 0; s < 4; s++) run.logStep(report(s));
  run.addEval({ fid: 1 });
  await run.fail(new Error('crash'));
  const history = [report(0), report(1)];
  const again = await Run.resume(join(root, 'resumed'), history);
  const record = readRecord(join(root, 'resumed'));
  assert.equal(record.status, 'running');
  assert.equal(record.error, null);
  assert.equal(record.steps, 2);
  assert.deepEqual(record.arm, { label: 'a=1', values: { a: 1 } });
  assert.equal(record.resumed.length, 1);
  assert.equal(record.resumed[0].step, 2);
  assert.deepEqual(again.history.map((r) => r.step), [0, 1]);
  assert.deepEqual(again.evalRows, [], 'the evaluation at step 4 belonged to weights the resumed run never has');
  assert.equal(fs.existsSync(join(root, 'resumed', 'eval.json')), false);
  assert.equal(fs.existsSync(join(root, 'resumed', 'eval.csv')), false);
  again.logStep(report(2));
  await again.finish();
  assert.deepEqual(aq.fromCSV(fs.readFileSync(join(root, 'resumed', 'metrics.csv'), 'utf8')).array('step'), [0, 1, 2]);
});

test('cpuSeconds is the CPU a run spent, summed over its resumes; a record without it still reads', async () => {
  // Spin until this process has used `seconds` of CPU (wall time would undercount on a busy machine).
  const busy = (seconds: number) => {
    const start = process.cpuUsage();
    let x = 0;
    while ((({ user, system }) => user + system)(process.cpuUsage(start)) < seconds * 1e6) x += Math.sqrt(x + 1);
    return x;
  };
  const run = await Run.start({ name: 'cpu', root, config: { a: 1 }, seed: 0 });
  busy(0.2);
  await run.fail(new Error('stopped'));
  const first = readRecord(join(root, 'cpu')).cpuSeconds!;
  assert.ok(first >= 0.2 && first < 5, `first segment ${first} s`);
  const again = await Run.resume(join(root, 'cpu'), []);
  busy(0.2);
  await again.finish();
  const total = readRecord(join(root, 'cpu')).cpuSeconds!;
  assert.ok(total >= first + 0.2, `${total} s after the resume, ${first} s before it`);

  // A process killed mid-run: its CPU up to the last flush of the metrics stays counted.
  const killed = await Run.start({ name: 'killed', root, config: { a: 1 }, seed: 0, flushEvery: 2 });
  assert.equal(readRecord(join(root, 'killed')).cpuSeconds, null, 'nothing measured before the first flush');
  busy(0.2);
  killed.logStep(report(0));
  killed.logStep(report(1));
  const flushed = readRecord(join(root, 'killed'));
  assert.equal(flushed.status, 'running');
  assert.equal(flushed.steps, 2, 'run.json follows the steps at each flush');
  assert.ok(flushed.cpuSeconds! >= 0.2, `${flushed.cpuSeconds} s at the flush`);
  // As if the process died: its lock goes stale (here: removed), and the next process resumes.
  fs.rmSync(join(root, 'killed', '.lock'));
  const goesOn = await Run.resume(join(root, 'killed'), [report(0)]);
  busy(0.1);
  await goesOn.finish();
  assert.ok(readRecord(join(root, 'killed')).cpuSeconds! >= flushed.cpuSeconds! + 0.1);

  // A record from before cpuSeconds was kept: it reads, and a resume of it cannot know the total.
  const path = join(root, 'cpu', 'run.json');
  const old = JSON.parse(fs.readFileSync(path, 'utf8'));
  delete old.cpuSeconds;
  fs.writeFileSync(path, JSON.stringify(old));
  assert.equal(readRecord(join(root, 'cpu')).cpuSeconds, undefined);
  await (await Run.resume(join(root, 'cpu'), [])).finish();
  assert.equal(readRecord(join(root, 'cpu')).cpuSeconds, null);
  fs.writeFileSync(path, JSON.stringify({ ...old, cpuSeconds: 'a lot' }));
  assert.throws(() => readRecord(join(root, 'cpu')), /cpuSeconds is "a lot"; expected/);
});
