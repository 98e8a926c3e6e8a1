/**
 * Shared run folders are safe to open: every string from the folder is escaped in a report's HTML, a damaged
 * file fails naming itself and what is wrong, links cannot smuggle other files into a report, and a run
 * whose process died is reported as `died`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareRuns } from '../../src/experiments/compare';
import { loadRun, runDirs } from '../../src/experiments/load-run';
import { writeReport } from '../../src/experiments/report';
import { Run, type ArmInfo } from '../../src/experiments/run-record';
import { zipRun } from '../../src/experiments/zip';
import { REPORT_COMMAND } from '../helpers/experiments';

let root = '';
before(() => (root = fs.mkdtempSync(join(tmpdir(), 'tf-reliability-report-'))));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A finished run of two logged steps and one evaluation row, written as the lab writes it (no training). */
async function fakeRun(name: string, evalRow: object = { fid: 1 }, arm?: ArmInfo, parent = root): Promise<string> {
  const run = await Run.start({ name, root: parent, config: { steps: 2 }, seed: 0, arm });
  for (const step of [0, 1]) {
    run.logStep({ step, loss: 3 - step, breakdown: { lm: 2 - step, diffusion: 0.2 }, lr: 1e-4, gradNorm: 1, stepMs: 10, tokensPerSec: 100 });
  }
  run.addEval(evalRow);
  await run.finish();
  return run.dir;
}

const editJson = (path: string, edit: (value: Record<string, unknown>) => unknown) =>
  fs.writeFileSync(path, JSON.stringify(edit(JSON.parse(fs.readFileSync(path, 'utf8')))));

const EVIL = '<img src=x onerror=alert(1)>';

test('metric names and values from eval.json are escaped in a run report', async () => {
  const dir = await fakeRun('evil-metric', { [EVIL]: 1, label: '<script>alert(2)</script>' });
  const html = fs.readFileSync(writeReport(dir), 'utf8');
  assert.ok(!html.includes(EVIL), 'a metric name became markup');
  assert.ok(!html.includes('<script>alert(2)'), 'a metric value became markup');
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
});

test('in a report of several runs, swept fields, their values and metric names are escaped', async () => {
  const parent = join(root, 'collection');
  const field = '<b onmouseover=alert(3)>lambda</b>';
  for (const v of [1, 2]) await fakeRun(`arm${v}`, { '<svg onload=alert(4)>': v }, { label: `a${v}`, values: { [field]: `<i>${v}</i>` } }, parent);
  const html = fs.readFileSync(writeReport(parent), 'utf8');
  for (const raw of ['<b onmouseover', '<svg onload', '<i>1</i>']) assert.ok(!html.includes(raw), raw);
  assert.ok(html.includes('&lt;b onmouseover=alert(3)&gt;lambda&lt;/b&gt;'));
});

test('a status run.json cannot hold is refused, naming the file, the value and the statuses allowed', async () => {
  const dir = await fakeRun('evil-status');
  editJson(join(dir, 'run.json'), (r) => ({ ...r, status: '"><script>alert(5)</script>' }));
  assert.throws(() => writeReport(dir), new RegExp(`${dir}/run\\.json: status is "\\\\"><script>alert\\(5\\)</script>"; expected one of running, finished, interrupted, failed`));
});

test('run.json fields of the wrong type name the file, the field and what is allowed', async () => {
  const dir = await fakeRun('wrong-types');
  editJson(join(dir, 'run.json'), (r) => ({ ...r, steps: 'many' }));
  assert.throws(() => loadRun(dir), /run\.json: steps is "many"; expected an integer >= 0/);
  editJson(join(dir, 'run.json'), (r) => ({ ...r, steps: 2, seconds: '<b>1</b>' }));
  assert.throws(() => writeReport(dir), /run\.json: seconds is "<b>1<\/b>"; expected a number or null/);
  editJson(join(dir, 'run.json'), (r) => ({ ...r, seconds: 1, git: null }));
  assert.throws(() => compareRuns(dir), /run\.json: git is null; expected an object/);
});

test('a truncated eval.json is an error naming the file, not a bare SyntaxError', async () => {
  const dir = await fakeRun('truncated-eval');
  const path = join(dir, 'eval.json');
  fs.writeFileSync(path, fs.readFileSync(path, 'utf8').slice(0, 10));
  assert.throws(() => loadRun(dir), new RegExp(`${path} is not valid JSON \\(.*\\); it is damaged or was not written by the lab`));
  assert.throws(() => writeReport(dir), /eval\.json is not valid JSON/);
});

test('eval.json that is not a list of rows says what it holds and what was expected', async () => {
  const dir = await fakeRun('eval-object');
  fs.writeFileSync(join(dir, 'eval.json'), '{"fid": 1}');
  assert.throws(() => compareRuns(dir), /eval\.json: holds \{"fid":1\}; expected an array of evaluation rows/);
  fs.writeFileSync(join(dir, 'eval.json'), '[{"fid": 1}, 7]');
  assert.throws(() => writeReport(dir), /eval\.json: row 1 is 7; expected an object of metrics/);
});

test('a damaged sweep.json is an error naming it', async () => {
  const parent = join(root, 'damaged-sweep');
  await fakeRun('a', {}, undefined, parent);
  fs.writeFileSync(join(parent, 'sweep.json'), '{"format": "transfusion-lab/sweep@1", "arms": [');
  assert.throws(() => writeReport(parent), new RegExp(`${parent}/sweep\\.json is not valid JSON`));
  fs.writeFileSync(join(parent, 'sweep.json'), JSON.stringify({ format: 'transfusion-lab/sweep@1', name: 's', base: {}, grid: {}, seeds: null, arms: 'all' }));
  assert.throws(() => runDirs(parent), /sweep\.json: arms is "all"; expected an array/);
});

test('sweep.json cannot point a report at folders outside the sweep', async () => {
  const parent = join(root, 'escape');
  await fakeRun('outside', { secret: 42 });
  fs.mkdirSync(parent);
  const arm = { name: '../outside', arm: 'x', values: {}, seed: 0, status: 'finished' };
  fs.writeFileSync(join(parent, 'sweep.json'), JSON.stringify({ format: 'transfusion-lab/sweep@1', name: 'escape', base: {}, grid: {}, seeds: null, arms: [arm] }));
  assert.throws(() => writeReport(parent), /sweep\.json: arms\.0\.name: got "\.\.\/outside"; allowed: a name of letters/);
});

test('a damaged metrics.arrow is an error naming it', async () => {
  const dir = await fakeRun('bad-arrow');
  fs.writeFileSync(join(dir, 'metrics.arrow'), 'not arrow at all');
  assert.throws(() => loadRun(dir), new RegExp(`${dir}/metrics\\.arrow: cannot be read as an Arrow IPC table \\(.*\\); it is damaged or was not written by the lab`));
});

test('metrics.csv with text where numbers belong names the file, the column and the row', async () => {
  const dir = await fakeRun('bad-csv');
  fs.rmSync(join(dir, 'metrics.arrow'));
  fs.writeFileSync(join(dir, 'metrics.csv'), 'step,loss,<script>\n0,1,alert(1)\n');
  assert.throws(() => writeReport(dir), /metrics\.csv: column "<script>" row 0 is "alert\(1\)"; expected a number or nothing/);
  fs.writeFileSync(join(dir, 'metrics.csv'), 'loss\n1\n');
  assert.throws(() => loadRun(dir), /metrics\.csv: has no step column \(columns: "loss"\)/);
});

test('a sample that is a link is neither listed nor embedded, so a report cannot carry another file out', async () => {
  const dir = await fakeRun('linked-sample');
  const secret = join(root, 'id_rsa');
  fs.writeFileSync(secret, 'SECRET KEY MATERIAL');
  fs.mkdirSync(join(dir, 'samples'), { recursive: true });
  fs.symlinkSync(secret, join(dir, 'samples', 'final.png'));
  assert.deepEqual(loadRun(dir).samples, []);
  const html = fs.readFileSync(writeReport(dir), 'utf8');
  assert.ok(!html.includes(Buffer.from('SECRET KEY MATERIAL').toString('base64')));
});

test('a run whose process died is reported as died, in its own report and in a comparison', async () => {
  const run = await Run.start({ name: 'alive', root, config: { steps: 2 }, seed: 0 });
  const parent = join(root, 'died-runs');
  fs.mkdirSync(join(parent, 'copy'), { recursive: true });
  // A copy of the record without its writer: what a kill, or the folder copied elsewhere, leaves.
  fs.copyFileSync(join(run.dir, 'run.json'), join(parent, 'copy', 'run.json'));
  await run.finish();
  const own = fs.readFileSync(writeReport(join(parent, 'copy')), 'utf8');
  assert.match(own, /status <b class="status-died">died<\/b>/);
  assert.doesNotMatch(own, /class="status-running"/);
  assert.match(fs.readFileSync(writeReport(parent), 'utf8'), /<span class="status-died">alive<\/span>/);
});

test('a zip leaves out the writer\'s lock, which names a process on this machine only', async () => {
  const dir = await fakeRun('zipped');
  fs.writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: 1, hostname: 'elsewhere', startedAt: 'now', command: 'x', purpose: 'y' }));
  const zip = fs.readFileSync(zipRun(dir));
  assert.ok(zip.includes(Buffer.from('zipped/run.json')));
  assert.ok(!zip.includes(Buffer.from('zipped/.lock')));
});

test('report CLI: a damaged file is one line naming it, and exit status 1', async () => {
  const dir = await fakeRun('cli-damaged');
  fs.writeFileSync(join(dir, 'eval.json'), '[{"fid": ');
  const out = spawnSync(process.execPath, [...REPORT_COMMAND, dir], { encoding: 'utf8' });
  assert.equal(out.status, 1);
  assert.match(out.stderr, new RegExp(`^${dir}/eval\\.json is not valid JSON \\(.*\\); it is damaged or was not written by the lab\\n$`));
});
