/**
 * `npm run speedrun -- [--recipe mnist-speedrun-flow] [--seeds 0,1,2] [--steps N] [--every K] [--set path=value ...]`:
 * time to quality on MNIST captions. Trains one run per seed from a recipe (src/experiments/recipes.ts; by default
 * `mnist-speedrun-flow`, the recipe that meets the goal of README's "Time to quality"), probes
 * it every K steps (src/eval/probe.ts: a few generated and captioned digits), and prints one JSON line per probe
 * with the training minutes so far (probe time excluded). The minutes at which text-to-image and caption
 * accuracy first reach 0.9 are the time to threshold. When training ends, the full evaluation (`evaluate`:
 * 200 generated digits, 50 DDIM steps, guidance 3, 200 held-out digits captioned) gives the final row, and a
 * last line summarises every seed: mean and spread of each number, and the FID floor (200 real training digits
 * against the held-out set, on the same features) beside the FID.
 *
 * `--eval-sampler KIND` and `--eval-steps N` choose the final evaluation's sampler; the probes use the same kind
 * at min(25, N) steps. The default is the goal's own setting, DDIM at 50 steps (on a flow schedule deterministic
 * DDIM is the Euler step, src/schedules/ddim.ts). DPM-Solver++(2M) at 15 steps (`--eval-sampler dpmpp-2m
 * --eval-steps 15`) takes a third of the time and scores the accuracies the same, but on `mnist-speedrun-flow`
 * models its FID is 13-16 worse than at 50 steps (README, "What the evaluation costs"), so it is not the default.
 *
 * `--save DIR` writes each seed's checkpoint (DIR/<label>-seed<k>.safetensors) before its final evaluation, so a
 * run can be scored again later (`restore`).
 *
 * `--set` changes one field of the recipe by dotted path, as a sweep does ('net.patchSize=4',
 * 'train.optimizer.lr=0.002', 'batchSize=32'); values are JSON (strings may be bare). The printed lines are the
 * record (redirect them to a file to keep it); nothing is written to runs/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../src/engine/tf';
import { initEngine } from '../src/engine/engine';
import { setSeed } from '../src/engine/random';
import { TrainingRun } from '../src/checkpoint/session';
import type { Ema } from '../src/train/ema';
import type { Transfusion } from '../src/model/transfusion';
import { buildDataset, resolveExperiment, type ExperimentSpec } from '../src/experiments/experiment-config';
import { withField } from '../src/experiments/dotted-path';
import { RECIPES, type RecipeName } from '../src/experiments/recipes';
import { cachedClassifier } from '../src/eval/classifier-cache';
import { evaluate, type EvalRow } from '../src/eval/evaluate';
import { probe } from '../src/eval/probe';
import { mnistTrainDigits, mnistHeldoutDigits } from '../src/eval/classifier-train';
import { digitBatch } from '../src/eval/digits';
import { frechetDistanceOf } from '../src/eval/frechet';
import { summarize } from '../src/experiments/stats';
import { samplers } from '../src/schedules/sampler';

const THRESHOLD = 0.9;

interface Args {
  recipe: RecipeName;
  seeds: number[];
  steps: number | null;
  every: number;
  sets: [string, unknown][];
  label: string | null;
  save: string | null;
  /** The final evaluation's sampler kind and steps (default DDIM, 50: the goal's setting), and the probes' kind. */
  evalSampler: string;
  evalSteps: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { recipe: 'mnist-speedrun-flow', seeds: [0, 1, 2], steps: null, every: 0, sets: [], label: null, save: null, evalSampler: 'ddim', evalSteps: 50 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`speedrun: ${flag} needs a value`);
    if (flag === '--recipe') {
      if (!Object.hasOwn(RECIPES, value)) throw new Error(`speedrun: --recipe '${value}' is not one of ${Object.keys(RECIPES).join(', ')}`);
      args.recipe = value as RecipeName;
    } else if (flag === '--seeds') {
      args.seeds = value.split(',').map(Number);
      if (args.seeds.some((s) => !Number.isSafeInteger(s))) throw new Error(`speedrun: --seeds '${value}' is not a comma-separated list of integers`);
    } else if (flag === '--steps') {
      args.steps = Number(value);
    } else if (flag === '--every') {
      args.every = Number(value);
      if (!Number.isInteger(args.every) || args.every < 0) throw new Error(`speedrun: --every '${value}' is not a whole number of steps`);
    } else if (flag === '--label') {
      args.label = value;
    } else if (flag === '--save') {
      args.save = value;
    } else if (flag === '--eval-sampler') {
      // Checked now, not after the training it would otherwise end.
      if (!samplers.has(value)) throw new Error(`speedrun: --eval-sampler '${value}' is not one of ${samplers.kinds().join(', ')}`);
      args.evalSampler = value;
    } else if (flag === '--eval-steps') {
      args.evalSteps = Number(value);
      if (!Number.isInteger(args.evalSteps) || args.evalSteps < 1) throw new Error(`speedrun: --eval-steps '${value}' is not a positive whole number`);
    } else if (flag === '--set') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new Error(`speedrun: --set '${value}' is not path=value`);
      const raw = value.slice(eq + 1);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = raw;
      }
      args.sets.push([value.slice(0, eq), parsed]);
    } else {
      throw new Error(`speedrun: unknown flag '${flag}' (known: --recipe, --seeds, --steps, --every, --set, --label, --save, --eval-sampler, --eval-steps)`);
    }
  }
  return args;
}

/** The recipe with the command line's changes; `steps` first, since the learning-rate schedule follows it. */
function specFor(args: Args, seed: number): ExperimentSpec {
  let spec: ExperimentSpec = { ...RECIPES[args.recipe], seed };
  if (args.steps !== null) spec = { ...spec, steps: args.steps };
  for (const [path, value] of args.sets) spec = withField(spec, resolveExperiment(spec), path, value);
  return spec;
}

function fidFloor(scorer: { features(images: tf.Tensor): Float64Array[] }, n: number): number {
  const train = mnistTrainDigits();
  const heldout = mnistHeldoutDigits();
  const realTrain = digitBatch(train, Int32Array.from({ length: n }, (_, k) => k));
  const realHeldout = digitBatch(heldout, Int32Array.from({ length: heldout.length }, (_, k) => k));
  const fid = frechetDistanceOf(scorer.features(realTrain), scorer.features(realHeldout));
  tf.dispose([realTrain, realHeldout]);
  return fid;
}

/** `f` run with the EMA weights in place when the run keeps an average (swapped back afterwards). */
function withEmaWeights<T>(model: Transfusion, ema: Ema | null, f: () => T): T {
  const params = model.namedParameters();
  ema?.swap(params);
  try {
    return f();
  } finally {
    ema?.swap(params);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const engine = await initEngine();
  console.log(JSON.stringify({ engine: engine.line }));
  const { classifier, heldoutAccuracy } = await cachedClassifier();
  const label = args.label ?? [args.recipe, ...args.sets.map(([p, v]) => `${p.split('.').pop()}=${typeof v === 'object' ? JSON.stringify(v) : v}`)].join(',');
  const finals: (Omit<EvalRow, 'seed'> & { train_minutes: number; t2i_minutes: number | null; caption_minutes: number | null })[] = [];
  for (const seed of args.seeds) {
    const spec = specFor(args, seed);
    const config = resolveExperiment(spec);
    const every = args.every || Math.max(50, Math.round(config.steps / 10));
    let trainMs = 0;
    let lastMark = performance.now();
    const reached: Record<'t2i' | 'caption', number | null> = { t2i: null, caption: null };
    // The first time each accuracy reaches the threshold, in training minutes.
    const mark = (row: { t2i_accuracy: number; caption_accuracy: number }, minutes: number): void => {
      if (reached.t2i === null && row.t2i_accuracy >= THRESHOLD) reached.t2i = minutes;
      if (reached.caption === null && row.caption_accuracy >= THRESHOLD) reached.caption = minutes;
    };
    console.log(JSON.stringify({ seed, label, steps: config.steps, batch: config.batchSize, every }));
    setSeed(config.seed);
    const session = TrainingRun.create(buildDataset(config.data), { preset: config.model, train: config.train, loader: { batchSize: config.batchSize }, seed: config.seed });
    const { model, trainer } = session;
    await session.train(config.steps, {
      onStep: (report) => {
        const step = report.step + 1;
        if (step % every !== 0 || step === config.steps) return;
        trainMs += performance.now() - lastMark;
        const row = withEmaWeights(model, trainer.ema, () => probe(model, classifier, { sampler: args.evalSampler, steps: Math.min(25, args.evalSteps) }));
        model.train();
        const minutes = trainMs / 60000;
        mark(row, minutes);
        console.log(JSON.stringify({ seed, step, train_minutes: +minutes.toFixed(2), loss: +report.loss.toFixed(4), ...report.breakdown, t2i_accuracy: row.t2i_accuracy, caption_accuracy: row.caption_accuracy, digit_readout: row.digit_readout, captions: row.captions, probe_seconds: +row.seconds.toFixed(1) }));
        lastMark = performance.now();
      },
    });
    trainMs += performance.now() - lastMark;
    const minutes = trainMs / 60000;
    if (args.save !== null) {
      // Before the evaluation, so a run whose scoring fails or changes later is scored again from here (restore).
      mkdirSync(args.save, { recursive: true });
      const path = join(args.save, `${label.replace(/[^\w.=,-]+/g, '_')}-seed${seed}.safetensors`);
      session.checkpoint(path);
      console.log(JSON.stringify({ seed, checkpoint: path }));
    }
    trainer.ema?.swap(model.namedParameters());
    model.eval();
    const row = await evaluate(model, { n: 20, steps: args.evalSteps, sampler: args.evalSampler, guidance: 3, heldout: 200 }, { classifier });
    mark(row, minutes);
    const { seed: evalSeed, ...scores } = row;
    const final = { ...scores, eval_seed: evalSeed, train_minutes: +minutes.toFixed(2), t2i_minutes: reached.t2i === null ? null : +reached.t2i.toFixed(2), caption_minutes: reached.caption === null ? null : +reached.caption.toFixed(2) };
    console.log(JSON.stringify({ seed, final: true, ...final }));
    finals.push(final);
    session.dispose();
  }
  const keys = ['t2i_accuracy', 'caption_accuracy', 'fid', 'perplexity', 'diffusion_mse', 'train_minutes', 't2i_minutes', 'caption_minutes', 'seconds'] as const;
  const summary = Object.fromEntries(keys.map((k) => [k, summarize(finals.map((f) => f[k]))]));
  console.log(JSON.stringify({ label, seeds: args.seeds, summary, fid_floor: +fidFloor(classifier, 200).toFixed(2), classifier_heldout_accuracy: heldoutAccuracy }));
  classifier.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
