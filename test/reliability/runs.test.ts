/**
 * Runs never destroy work: one writer per run folder and per sweep (a second one is refused, naming the
 * owner), a dead writer's lock is taken over, resume never silently starts over, a finished run is never
 * replaced unasked, a sweep keeps the arms it has, and a run whose process died reads as `died`.
 *
 * Another process's lock is simulated with a real process: a `sleep` child (alive), or one that has exited
 * (its pid gone).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config';
import { compareRuns } from '../../src/experiments/compare';
import { loadRun } from '../../src/experiments/load-run';
import { rescoreRun } from '../../src/experiments/rescore';
import { Run, readRecord } from '../../src/experiments/run-record';
import { sweep, SWEEP_FILE, type SweepManifest } from '../../src/experiments/sweep';
import { trainRun, type TrainRunOptions } from '../../src/experiments/train-run';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';

let root = '';
useTempRoot('tf-reliability-runs-', (dir) => (root = dir));

const children: ChildProcess[] = [];
after(() => children.forEach((c) => c.kill('SIGKILL')));

/** A live process that is not this one. */
function liveProcess(): number {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

/** The pid of a process that has exited (and been reaped), so no process has it. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid;
}

function writeLock(dir: string, pid: number, host = hostname()): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, '.lock'), JSON.stringify({ pid, hostname: host, startedAt: '2024-05-01T10:00:00.000Z', command: 'node train-other.js', purpose: 'trainRun other' }));
}

const tiny = (name: string, more: Partial<TrainRunOptions> = {}): TrainRunOptions => ({ ...TINY_SPEC, root, name, progress: false, ...more });

async function trained(name: string, more: Partial<TrainRunOptions> = {}): Promise<string> {
  (await trainRun(tiny(name, more))).dispose();
  return join(root, name);
}

/** A folder's files and their bytes, to show a refused call changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, f);
    if (fs.statSync(path).isFile()) out[f] = fs.readFileSync(path).toString('base64');
  }
  return out;
}

const manifestOf = (dir: string): SweepManifest => JSON.parse(fs.readFileSync(join(dir, SWEEP_FILE), 'utf8'));

test('a run folder another live process holds is refused, naming the folder and the owner pid; the run in it is untouched', async () => {
  const dir = await trained('held');
  const pid = liveProcess();
  writeLock(dir, pid);
  const before = snapshot(dir);
  await assert.rejects(trainRun(tiny('held', { overwrite: true })), new RegExp(`${dir} is in use by pid ${pid} on host ${hostname()} \\(trainRun other, since 2024-05-01T10:00:00.000Z, command: node train-other.js\\)`));
  assert.deepEqual(snapshot(dir), before);
});

test('Run.start refuses a folder another live process holds instead of emptying it', async () => {
  const dir = join(root, 'raw');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, 'notes.txt'), 'keep me');
  const pid = liveProcess();
  writeLock(dir, pid);
  await assert.rejects(Run.start({ name: 'raw', root, config: {}, seed: 0 }), new RegExp(`raw is in use by pid ${pid}.*one writer per folder`));
  assert.equal(fs.readFileSync(join(dir, 'notes.txt'), 'utf8'), 'keep me');
});

test('a sweep another live process holds is refused before any arm trains', async () => {
  const dir = join(root, 'held-sweep');
  const pid = liveProcess();
  writeLock(dir, pid);
  let steps = 0;
  await assert.rejects(
    sweep(TINY_SPEC, { 'objective.lambda': [1, 2] }, { name: 'held-sweep', root, progress: false, onStep: () => void steps++ }),
    new RegExp(`held-sweep is in use by pid ${pid}`),
  );
  assert.equal(steps, 0);
  assert.deepEqual(fs.readdirSync(dir), ['.lock']);
});

test('two sweeps of one name at once: the second is refused naming this process, the first finishes whole', async () => {
  const run = () => sweep(TINY_SPEC, { 'objective.lambda': [1, 2] }, { name: 'twin', root, progress: false });
  const [first, second] = await Promise.allSettled([run(), run()]);
  assert.equal(first.status === 'fulfilled' && first.value.status, 'finished');
  assert.equal(second.status, 'rejected');
  assert.match((second as PromiseRejectedResult).reason.message, new RegExp(`twin is in use by this process, pid ${process.pid} \\(sweep twin \\(plan [0-9a-f]{12}\\), since .*\\): one run or sweep per folder at a time`));
  for (const arm of ['lambda=1', 'lambda=2']) assert.equal(loadRun(join(root, 'twin', arm)).history.length, 3, arm);
  assert.deepEqual(manifestOf(join(root, 'twin')).arms.map((a) => a.status), ['finished', 'finished']);
});

test('two trainRuns of one name at once: the second is refused and the first run survives whole', async () => {
  const [first, second] = await Promise.allSettled([trainRun(tiny('twin-run')), trainRun(tiny('twin-run', { seed: 9 }))]);
  assert.equal(second.status, 'rejected');
  assert.match((second as PromiseRejectedResult).reason.message, /twin-run is in use by this process, pid \d+ \(trainRun twin-run/);
  assert.equal(first.status, 'fulfilled');
  (first as PromiseFulfilledResult<Awaited<ReturnType<typeof trainRun>>>).value.dispose();
  assert.equal(readRecord(join(root, 'twin-run')).status, 'finished');
  assert.equal(readRecord(join(root, 'twin-run')).seed, TINY_SPEC.seed ?? 0);
});

test('while a run trains its lock names this process; it is released when the run finishes, fails or is interrupted', async () => {
  const owners: Record<string, unknown>[] = [];
  const onStep = (_: unknown, run: Run) => owners.push(JSON.parse(fs.readFileSync(join(run.dir, '.lock'), 'utf8')));
  const dir = await trained('locked', { onStep });
  assert.equal(owners.length, 3);
  assert.equal(owners[0].pid, process.pid);
  assert.equal(owners[0].hostname, hostname());
  assert.equal(owners[0].purpose, 'trainRun locked');
  assert.equal(owners[0].command, process.argv.join(' '));
  assert.equal(fs.existsSync(join(dir, '.lock')), false, 'released when finished');

  await assert.rejects(trainRun(tiny('locked-fails', { evaluate: () => { throw new Error('no scorer'); } })), /no scorer/);
  assert.equal(fs.existsSync(join(root, 'locked-fails', '.lock')), false, 'released when failed');
  let n = 0;
  const stopped = await trainRun(tiny('locked-stops', { shouldStop: () => ++n > 1 }));
  stopped.dispose();
  assert.equal(stopped.status, 'interrupted');
  assert.equal(fs.existsSync(join(root, 'locked-stops', '.lock')), false, 'released when interrupted');
});

test('a dead writer\'s lock is taken over: the run resumes, and the dead writer\'s temporary files are removed', async () => {
  let n = 0;
  (await trainRun(tiny('taken', { steps: 4, checkpointEvery: 1, shouldStop: () => ++n > 2 }))).dispose();
  const dir = join(root, 'taken');
  // As a kill leaves it: run.json says running, the lock names the dead process, its half-written files remain.
  const record = readRecord(dir);
  fs.writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...record, status: 'running', endedAt: null }));
  const dead = deadPid();
  const live = liveProcess();
  writeLock(dir, dead);
  fs.writeFileSync(join(dir, `metrics.csv.tmp-${dead}`), 'step,lo');
  fs.mkdirSync(join(dir, 'samples'), { recursive: true });
  fs.writeFileSync(join(dir, 'samples', `final.png.tmp-${dead}`), 'half');
  fs.writeFileSync(join(dir, `report.html.tmp-${live}`), 'another live writer');

  const resumed = await trainRun(tiny('taken', { steps: 4, checkpointEvery: 1, resume: true }));
  resumed.dispose();
  assert.equal(resumed.status, 'finished');
  assert.equal(resumed.resumedFrom, 2);
  assert.equal(fs.existsSync(join(dir, `metrics.csv.tmp-${dead}`)), false);
  assert.equal(fs.existsSync(join(dir, 'samples', `final.png.tmp-${dead}`)), false);
  assert.equal(fs.existsSync(join(dir, `report.html.tmp-${live}`)), true, 'a live process\'s file is not ours to remove');
  assert.equal(fs.existsSync(join(dir, '.lock')), false);
});

/** Start a run in a child process that then exits (`exit`) or sleeps until killed (`hang`). */
function childRun(name: string, mode: 'exit' | 'hang'): ChildProcess {
  const script = `const { Run } = require(${JSON.stringify(join(__dirname, '../../src/experiments/run-record'))});
Run.start({ name: ${JSON.stringify(name)}, root: ${JSON.stringify(root)}, config: { steps: 1 }, seed: 0 }).then(() => {
  ${mode === 'exit' ? 'process.exit(0);' : "process.stdout.write('started\\n'); setInterval(() => {}, 1000);"}
});`;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

const exited = (child: ChildProcess) => new Promise<void>((done) => (child.exitCode !== null || child.signalCode !== null ? done() : child.once('exit', () => done())));

test('a process that exits without ending its run releases the lock, and the run reads as died', async () => {
  const child = childRun('exited', 'exit');
  await exited(child);
  const dir = join(root, 'exited');
  assert.equal(readRecord(dir).status, 'running', 'run.json still says running');
  assert.equal(fs.existsSync(join(dir, '.lock')), false);
  assert.equal(loadRun(dir).record.status, 'died');
  assert.deepEqual(compareRuns(dir).array('status'), ['died']);
});

test('a killed process leaves its lock; the run reads as died and the next writer takes the folder over', async () => {
  const child = childRun('killed', 'hang');
  await new Promise<void>((done) => child.stdout!.once('data', () => done()));
  const dir = join(root, 'killed');
  assert.equal(loadRun(dir).record.status, 'running', 'alive, it is running');
  child.kill('SIGKILL');
  await exited(child);
  assert.equal(JSON.parse(fs.readFileSync(join(dir, '.lock'), 'utf8')).pid, child.pid);
  assert.equal(loadRun(dir).record.status, 'died');
  const run = await Run.start({ name: 'killed', root, config: { steps: 1 }, seed: 0 });
  assert.equal(JSON.parse(fs.readFileSync(join(dir, '.lock'), 'utf8')).pid, process.pid);
  await run.finish();
  assert.equal(loadRun(dir).record.status, 'finished');
});

test('a record saying running reads as died without a lock, and as running while its owner lives (here or on another host)', async () => {
  const run = await Run.start({ name: 'ghost', root, config: {}, seed: 0 });
  assert.equal(loadRun(run.dir).record.status, 'running', 'this process writes it');
  const copy = join(root, 'ghost-copy');
  fs.mkdirSync(copy);
  fs.copyFileSync(join(run.dir, 'run.json'), join(copy, 'run.json'));
  assert.equal(loadRun(copy).record.status, 'died');
  writeLock(copy, liveProcess());
  assert.equal(loadRun(copy).record.status, 'running');
  writeLock(copy, 1234567, 'elsewhere.example');
  assert.equal(loadRun(copy).record.status, 'running', 'a pid on another host cannot be checked');
  await run.finish();
});

test('resume: true after a config change refuses, naming each changed field with both values; nothing is deleted', async () => {
  let n = 0;
  const first = await trainRun(tiny('changed', { steps: 4, checkpointEvery: 1, train: { optimizer: { lr: 1e-3 } }, shouldStop: () => ++n > 2 }));
  first.dispose();
  const dir = join(root, 'changed');
  const before = snapshot(dir);
  await assert.rejects(
    trainRun(tiny('changed', { steps: 5, checkpointEvery: 1, train: { optimizer: { lr: 3e-4 } }, resume: true })),
    new RegExp(`${dir}: cannot resume: config changed at steps \\(4 -> 5\\), .*train\\.optimizer\\.lr \\(0\\.001 -> 0\\.0003\\); pass resume: false to start over \\(the folder is replaced\\) or use another name`),
  );
  assert.deepEqual(snapshot(dir), before);
  const fresh = await trainRun(tiny('changed', { steps: 5, train: { optimizer: { lr: 3e-4 } }, resume: false }));
  fresh.dispose();
  assert.equal(fresh.resumedFrom, null);
  assert.equal(readRecord(dir).steps, 5);
});

test('a finished run asked to resume is loaded from its checkpoint, not trained again', async () => {
  const dir = await trained('done');
  const recordBefore = fs.readFileSync(join(dir, 'run.json'), 'utf8');
  let steps = 0;
  const again = await trainRun(tiny('done', { resume: true, onStep: () => void steps++ }));
  try {
    assert.equal(steps, 0);
    assert.equal(again.status, 'finished');
    assert.equal(again.reused, true);
    assert.equal(again.resumedFrom, 3);
    assert.equal(again.run.history.length, 3);
    assert.equal(again.trainer.step, 3);
  } finally {
    again.dispose();
  }
  assert.equal(fs.readFileSync(join(dir, 'run.json'), 'utf8'), recordBefore);
});

test('a run recorded before the lab gained a config field is still this run: reused, and its sweep still compares', async () => {
  const dir = await trained('older');
  // As an earlier version of the lab wrote it: without train.emaWarmup, which came later with its default.
  const record = JSON.parse(fs.readFileSync(join(dir, 'run.json'), 'utf8'));
  delete record.config.train.emaWarmup;
  fs.writeFileSync(join(dir, 'run.json'), JSON.stringify(record));
  let steps = 0;
  const again = await trainRun(tiny('older', { onStep: () => void steps++ }));
  try {
    assert.equal(again.reused, true);
    assert.equal(steps, 0);
  } finally {
    again.dispose();
  }
  // A field that really changed is still named.
  await assert.rejects(trainRun(tiny('older', { steps: 4 })), /older: it holds a finished run \(3 steps, .*\) of another config: changed at steps \(3 -> 4\)/);
});

test('replacing a finished run needs overwrite: true, and the refusal says so without deleting anything', async () => {
  const dir = await trained('kept');
  const before = snapshot(dir);
  await assert.rejects(trainRun(tiny('kept', { steps: 4 })), new RegExp(`${dir}: it holds a finished run \\(3 steps, ended .*\\) of another config: changed at steps \\(3 -> 4\\).*; pass overwrite: true to replace it`));
  await assert.rejects(trainRun(tiny('kept', { resume: false })), /kept: it holds this run finished \(3 steps, ended .*\); pass overwrite: true to train it again/);
  await assert.rejects(trainRun(tiny('kept', { overwrite: true, resume: true })), (e: unknown) => e instanceof ConfigError && /trainRun\.overwrite: got true/.test((e as Error).message));
  assert.deepEqual(snapshot(dir), before);
  const replaced = await trainRun(tiny('kept', { steps: 4, overwrite: true }));
  replaced.dispose();
  assert.equal(readRecord(dir).steps, 4);
});

test('a run is never started in a folder that holds a sweep', async () => {
  const dir = join(root, 'a-sweep');
  fs.mkdirSync(join(dir, 'lambda=1'), { recursive: true });
  fs.writeFileSync(join(dir, 'sweep.json'), '{}');
  await assert.rejects(trainRun(tiny('a-sweep')), new RegExp(`${dir} holds lambda=1, sweep.json but no run.json, so it is not a run .*pass overwrite: true to replace the folder`));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['lambda=1', 'sweep.json']);
});

test('a sweep started again with another grid keeps its earlier arms, on disk and in sweep.json', async () => {
  const first = await sweep(TINY_SPEC, { 'objective.lambda': [1] }, { name: 'grow', root, progress: false });
  const kept = fs.readFileSync(join(first.dir, 'lambda=1', 'run.json'), 'utf8');
  const second = await sweep(TINY_SPEC, { 'objective.lambda': [2] }, { name: 'grow', root, progress: false });
  assert.deepEqual(second.ran, ['lambda=2']);
  assert.deepEqual(manifestOf(second.dir).arms.map((a) => [a.name, a.status]), [['lambda=2', 'finished'], ['lambda=1', 'finished']]);
  assert.deepEqual(manifestOf(second.dir).grid, { 'objective.lambda': [2] });
  assert.equal(fs.readFileSync(join(first.dir, 'lambda=1', 'run.json'), 'utf8'), kept);
  assert.deepEqual(compareRuns(second.dir).array('run'), ['lambda=2', 'lambda=1']);
});

test('a sweep arm whose folder holds another config is refused before anything trains, naming the field', async () => {
  await sweep(TINY_SPEC, { 'objective.weighting': [{ kind: 'min-snr', gamma: 5 }] }, { name: 'weights', root, progress: false });
  let steps = 0;
  await assert.rejects(
    sweep(TINY_SPEC, { 'objective.weighting': [{ kind: 'min-snr', gamma: 3 }] }, { name: 'weights', root, progress: false, onStep: () => void steps++ }),
    (e: unknown) => e instanceof ConfigError && /arm weighting=min-snr was run with a different config \(changed at model\.objective\.weighting\.gamma \(5 -> 3\)\)/.test((e as Error).message),
  );
  assert.equal(steps, 0);
});

test('a lock file that is not the lab\'s is an error naming it, not a folder silently taken', async () => {
  const dir = join(root, 'garbled');
  fs.mkdirSync(dir);
  fs.writeFileSync(join(dir, '.lock'), 'not json');
  await assert.rejects(trainRun(tiny('garbled')), new RegExp(`${dir}/\\.lock is not a lock this lab wrote .*got "not json"\\); delete it if no process is writing to ${dir}`));
  assert.equal(fs.readFileSync(join(dir, '.lock'), 'utf8'), 'not json');
});

test('a lock from another host is never taken over: its pid cannot be checked from here', async () => {
  const dir = join(root, 'remote');
  writeLock(dir, 1, 'gpu-box-7');
  await assert.rejects(Run.start({ name: 'remote', root, config: {}, seed: 0 }), new RegExp(`${dir} is in use by pid 1 on host gpu-box-7 .*if it has ended, delete ${dir}/\\.lock`));
});

test('a finished run another process holds is not rescored', async () => {
  const dir = await trained('rescore-held', { evaluate: () => ({ score: 1 }) });
  const evals = fs.readFileSync(join(dir, 'eval.json'), 'utf8');
  writeLock(dir, liveProcess());
  await assert.rejects(rescoreRun(dir, { evaluate: () => ({ score: 2 }) }), /rescore-held is in use by pid \d+/);
  assert.equal(fs.readFileSync(join(dir, 'eval.json'), 'utf8'), evals);
});
