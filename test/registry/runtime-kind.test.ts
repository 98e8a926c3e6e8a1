/**
 * A kind defined at run time, as a notebook cell defines one (issue 14): the Laplace schedule of
 * test/registry/laplace.ts is named in a config, swept against the paper's cosine schedule, trained, compared,
 * saved, and restored in a fresh process that defines it first; a fresh process that does not define it is
 * refused with an error naming the kind and saying to define it. Nothing in src/ knows the kind: adding it
 * touched no existing file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ConfigError, compareRuns, defineKind, describeKinds, makeSchedule, resolveConfig, scheduleSeries, sweep, RUN_FILES,
  type ScheduleSpec,
} from '../../src';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';
import { scheduleSuite } from '../schedules/suites';
import { defineLaplace } from './laplace';

let root = '';
useTempRoot('tl-runtime-kind-', (dir) => (root = dir));

defineLaplace();
const LAPLACE = { kind: 'laplace', b: 0.7 } as unknown as ScheduleSpec;

// The shared interface suite every built-in schedule passes (test/schedules/suites.ts), unmodified.
scheduleSuite('laplace, defined at run time', makeSchedule(LAPLACE));

test('a kind defined at run time is completed from its defaults, checked once and built like a built-in one', () => {
  const schedule = makeSchedule(LAPLACE);
  assert.deepEqual(schedule.config, { kind: 'laplace', mu: 0, b: 0.7 });
  assert.ok(Math.abs(schedule.logSnr(0.5)) < 1e-12, 'logSnr(0.5) = mu');
  assert.deepEqual(makeSchedule(JSON.parse(JSON.stringify(schedule.config))).config, schedule.config, 'its config rebuilds it');
  assert.throws(() => makeSchedule({ kind: 'laplace', b: -1 } as unknown as ScheduleSpec), (e: unknown) => e instanceof ConfigError && e.field === 'schedule.b');
  assert.throws(() => makeSchedule({ kind: 'laplace', scale: 1 } as unknown as ScheduleSpec), /schedule\.scale: got 1; allowed: a field of kind 'laplace': kind, mu, b/);
  // A model config names it; validateConfig resolves it to plain data.
  const config = resolveConfig('tiny', { objective: { schedule: LAPLACE as never } });
  assert.deepEqual(config.objective.schedule, { kind: 'laplace', mu: 0, b: 0.7 });
  assert.equal(scheduleSeries(makeSchedule(config.objective.schedule), 2).name, 'laplace(mu=0, b=0.7)');
  assert.ok(describeKinds().schedule.some((k) => k.kind === 'laplace' && !k.builtIn));
  // Redefining it (a notebook cell run again) is allowed; redefining a built-in kind is not.
  defineLaplace();
});

test('a built-in kind cannot be replaced at run time', () => {
  assert.throws(() => defineKind('schedule', 'cosine', { defaults: {}, build: () => makeSchedule() }), /defineKind\('schedule', "cosine"\)\.kind: got "cosine"; allowed: a name that is not already a built-in noise schedule kind/);
  assert.throws(() => defineKind('nope' as 'schedule', 'x', { defaults: {}, build: () => makeSchedule() }), /defineKind\.family: got "nope"; allowed: .*'schedule'/);
});

/** Run `script` in a fresh Node process from the sources; its stdout and stderr. */
function fresh(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: join(__dirname, '../..'), encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a sweep arm trains with the kind, compares beside the built-in one, and its checkpoint loads only where the kind is defined', async () => {
  const result = await sweep(TINY_SPEC, { 'model.objective.schedule': [{ kind: 'cosine' }, { kind: 'laplace', b: 0.7 }] }, { name: 'schedules', root, progress: false });
  assert.equal(result.status, 'finished');
  assert.equal(result.ran.length, 2);
  const table = compareRuns(result.dir);
  const swept = table.array('model.objective.schedule') as string[];
  assert.ok(swept.some((v) => v.includes('"laplace"')), `compareRuns lists the arm: ${swept.join(' | ')}`);
  const arm = result.manifest.arms.find((a) => JSON.stringify(a.values).includes('laplace'))!;
  const checkpoint = join(result.dir, arm.name, RUN_FILES.checkpoint);

  const src = JSON.stringify(join(__dirname, '../../src'));
  const laplace = JSON.stringify(join(__dirname, 'laplace'));
  const restored = fresh(`
    const lab = require(${src});
    require(${laplace}).defineLaplace();
    lab.initEngine().then(() => {
      const { model } = lab.restore(${JSON.stringify(checkpoint)});
      console.log(JSON.stringify(model.config.objective.schedule), model.objective.schedule.logSnr(0.5));
    });`);
  assert.equal(restored.status, 0, restored.stderr);
  assert.match(restored.stdout, /\{"kind":"laplace","mu":0,"b":0\.7\} 0/);

  const missing = fresh(`
    const lab = require(${src});
    lab.initEngine().then(() => lab.restore(${JSON.stringify(checkpoint)})).catch((e) => { console.log(e.message); process.exit(3); });`);
  assert.equal(missing.status, 3, missing.stderr);
  assert.match(missing.stdout, /objective\.schedule\.kind: got "laplace"; allowed: 'linear', 'scaled-linear', 'cosine'.*defineKind\('schedule', "laplace", \{ defaults, validate, build \}\)/);
});
