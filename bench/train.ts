/**
 * `npm run bench`: the shared speed yardstick (configuration `tiny`, ../shared/bench/README.md) on the lab's
 * `nativecpu` engine and on PyTorch (bench/torch_reference.py, a copy of the shared reference with sampling added),
 * at every thread count from 1 to the core count, in one run on one machine (issue #17, item 1).
 *
 * Each setting (side x thread count) runs in its own child process, so thread pools never share a process and each
 * peak RSS is its own; settings alternate between the sides at each thread count, so a change in the machine's
 * load falls on both. Within a child: warm-up steps, then `--repeats` timed blocks of `--steps` full training steps
 * (forward, backward, AdamW); then, once warmed up, `--repeats` timed sampling batches (`--images` images,
 * `--sample-steps` DDIM steps, classifier-free guidance `--guidance`, the caption prefix computed once into a KV
 * cache: the lab's textToImage, src/generate/batch.ts); then the machine's sgemm rate at that thread count (the best
 * of a few n x n float32 products: torch.mm on PyTorch's side, tf.matMul on nativecpu). bench/report.ts turns the
 * children's JSON into a Markdown table (median and min-max over the repeats, MFU = model FLOPs per step from
 * src/baseline/flops.ts / step time / that sgemm rate, peak RSS), each side's best setting, the ratios best vs
 * best and 1 thread vs 1 thread for training and sampling, and a final JSON line with all of it.
 *
 * Options: --repeats N (3), --steps N (5), --warmup N (2), --threads 1,2 (1 to the core count), --images N (16),
 * --sample-steps N (50), --guidance G (3, the lab's evaluation setting), --sgemm N (2048), --sides
 * pytorch,nativecpu, --python PATH (/usr/bin/python3). --quick: 1 thread, 1 repeat of 1 step after 1 warm-up,
 * 2 images of 2 DDIM steps, a 256 sgemm; it checks the harness end to end (test/bench/train.test.ts), its speeds
 * mean nothing. The kernels of every backend (wasm and cpu too) are timed by `npm run bench:kernels`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf } from '../src/engine/tf';
import { initEngine } from '../src/engine/engine';
import { nativeCpuThreads } from '../src/engine/nativecpu';
import { Rng, setSeed } from '../src/engine/random';
import { Transfusion } from '../src/model/transfusion';
import { resolveConfig } from '../src/model/config';
import { transfusionFlops } from '../src/baseline/flops';
import { Trainer, makeTrainConfig } from '../src/train/trainer';
import { layoutFromRuns } from '../src/blocks/layout';
import type { MixedBatch } from '../src/data/sequence';
import { textToImage } from '../src/generate/index';
import { buildReport, formatReport, type ChildResult, type Outcome, type Side } from './report';

/** The reference's shape (../shared/bench/README.md): 63 text bytes, BOI, 64 patches, EOI; 16 rows. */
const TEXT = 63;
const BATCH = 16;
const BOI = 259;
const EOI = 260;

/** Everything a child needs; the parent passes it whole. */
interface BenchOptions {
  readonly repeats: number;
  readonly steps: number;
  readonly warmup: number;
  readonly threads: readonly number[];
  readonly images: number;
  readonly sampleSteps: number;
  readonly guidance: number;
  readonly sgemm: number;
  readonly sgemmReps: number;
  readonly sides: readonly Side[];
  readonly python: string;
  readonly quick: boolean;
}

const USAGE = 'usage: bench/train.ts [--quick] [--repeats N] [--steps N] [--warmup N] [--threads 1,2] [--images N] ' +
  '[--sample-steps N] [--guidance G] [--sgemm N] [--sides pytorch,nativecpu] [--python PATH]';

/** The command line, checked: a bad value is one sentence naming the flag. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const cores = os.availableParallelism();
  const o: { -readonly [K in keyof BenchOptions]: BenchOptions[K] } = {
    repeats: quick ? 1 : 3, steps: quick ? 1 : 5, warmup: quick ? 1 : 2,
    threads: quick ? [1] : Array.from({ length: cores }, (_, i) => i + 1),
    images: quick ? 2 : 16, sampleSteps: quick ? 2 : 50, guidance: 3, sgemm: quick ? 256 : 2048, sgemmReps: quick ? 2 : 5,
    sides: ['pytorch', 'nativecpu'], python: '/usr/bin/python3', quick,
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: got ${JSON.stringify(v)}; allowed: an integer >= ${min}. ${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--quick') continue;
    const v = argv[++i];
    switch (flag) {
      case '--repeats': o.repeats = int(flag, v, 1); break;
      case '--steps': o.steps = int(flag, v, 1); break;
      case '--warmup': o.warmup = int(flag, v, 0); break;
      case '--threads': o.threads = (v ?? '').split(',').map((t) => int(flag, t, 1)); break;
      case '--images': o.images = int(flag, v, 0); break;
      case '--sample-steps': o.sampleSteps = int(flag, v, 2); break;
      case '--sgemm': o.sgemm = int(flag, v, 16); break;
      case '--guidance': {
        const g = Number(v);
        if (!(g >= 0 && g <= 100)) throw new Error(`--guidance: got ${JSON.stringify(v)}; allowed: a number in [0, 100]. ${USAGE}`);
        o.guidance = g;
        break;
      }
      case '--sides': {
        const sides = (v ?? '').split(',');
        const bad = sides.find((s) => s !== 'pytorch' && s !== 'nativecpu');
        if (bad !== undefined) throw new Error(`--sides: got ${JSON.stringify(bad)}; allowed: pytorch, nativecpu. ${USAGE}`);
        o.sides = sides as Side[];
        break;
      }
      case '--python': o.python = v ?? ''; break;
      default: throw new Error(`unknown option ${JSON.stringify(flag)}. ${USAGE}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// The lab's child: one thread setting of nativecpu (TRANSFUSION_THREADS, set by the parent).

/** The reference's batch: 63 random bytes, BOI, 64 patches, EOI; LM targets on the text (and BOI) only. */
export function referenceBatch(rng: Rng, patches: number, latentSize: number): MixedBatch {
  const L = TEXT + 1 + patches + 1;
  const tokens = new Int32Array(BATCH * L);
  const targets = new Int32Array(BATCH * L).fill(-1);
  const positions = new Int32Array(BATCH * L);
  const layouts = [];
  const slots = [];
  const images: Float32Array[] = [];
  for (let b = 0; b < BATCH; b++) {
    for (let p = 0; p < L; p++) positions[b * L + p] = p;
    for (let p = 0; p < TEXT; p++) tokens[b * L + p] = rng.int(256);
    tokens[b * L + TEXT] = BOI;
    tokens[b * L + L - 1] = EOI;
    for (let p = 0; p < TEXT; p++) targets[b * L + p] = tokens[b * L + p + 1];
    layouts.push(layoutFromRuns([[['text', TEXT + 1], ['image', patches], ['text', 1]]]));
    slots.push({ row: b, start: TEXT + 1, length: patches, source: b, imageFirst: false });
    images.push(Float32Array.from({ length: latentSize }, () => rng.normal()));
  }
  return { batchSize: BATCH, length: L, tokens, targets, positions, layouts, slots, images, captions: slots.map(() => '') };
}

/** Best rate of an n x n x n float32 tf.matMul on the current backend, GFLOP/s (as torch_reference.py's torch.mm). */
function sgemmGflops(n: number, reps: number): number {
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  let best = Infinity;
  for (let r = 0; r <= reps; r++) {
    const started = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    const ms = performance.now() - started;
    c.dispose();
    if (r > 0) best = Math.min(best, ms); // run 0 warms up
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

/** `n` captions of TEXT - 1 printable bytes, so each prompt `[BOS] caption [BOI]` is 64 tokens, as the reference's. */
export function captions(n: number, rng: Rng): string[] {
  return Array.from({ length: n }, () => String.fromCharCode(...Array.from({ length: TEXT - 1 }, () => 32 + rng.int(95))));
}

/**
 * The lab's side of the yardstick: the `tiny` model (seed 0), its trainer with the reference's settings (no
 * clipping, constant lr, weight decay 0.01) and a loss over two reference batches in turn. bench/profile.ts
 * profiles the same step.
 */
export function benchModel(): { model: Transfusion; trainer: Trainer; rng: Rng; loss: () => ReturnType<Transfusion['loss']> } {
  setSeed(0);
  const model = Transfusion.create('tiny');
  const { channels, height, width } = model.config.net.latent;
  const trainer = new Trainer(model, makeTrainConfig({ gradClip: 0, lrSchedule: { kind: 'constant' }, optimizer: { weightDecay: 0.01 } }));
  const rng = new Rng(1);
  const batches = Array.from({ length: 2 }, () => referenceBatch(rng, model.net.patchesPerImage, channels * height * width));
  let i = 0;
  return { model, trainer, rng, loss: () => model.loss(batches[i++ % batches.length], rng) };
}

async function labChild(o: BenchOptions): Promise<void> {
  const engine = await initEngine({ backend: 'nativecpu' });
  const threads = nativeCpuThreads() ?? 0;
  const { model, trainer, rng, loss } = benchModel();
  for (let s = 0; s < o.warmup; s++) trainer.trainStep(loss);
  const tensorsAfterWarmup = tf.memory().numTensors;
  const stepMs: number[] = [];
  for (let r = 0; r < o.repeats; r++) {
    const started = performance.now();
    for (let s = 0; s < o.steps; s++) trainer.trainStep(loss);
    stepMs.push(+((performance.now() - started) / o.steps).toFixed(2));
  }
  const tensorDrift = tf.memory().numTensors - tensorsAfterWarmup;
  const rssTrain = Math.round(process.resourceUsage().maxRSS / 1024);

  let sampling: ChildResult['sampling'] = null;
  if (o.images > 0) {
    const generate = (steps: number): number => {
      const started = performance.now();
      const images = textToImage(model, captions(o.images, rng), { sampler: { kind: 'ddim', steps, eta: 0 }, guidanceScale: o.guidance, cache: true }, { rng: new Rng(2) });
      images.dataSync();
      images.dispose();
      return performance.now() - started;
    };
    generate(2); // warm-up: the same shapes, two steps
    const batchMs = Array.from({ length: o.repeats }, () => +generate(o.sampleSteps).toFixed(1));
    sampling = { images: o.images, steps: o.sampleSteps, guidance: o.guidance, batch_ms: batchMs };
  }
  const rssEnd = Math.round(process.resourceUsage().maxRSS / 1024);
  const result: ChildResult = {
    side: 'nativecpu', impl: `nativecpu on ${engine.device}`, threads, params: model.numParameters(), seq: TEXT + 1 + model.net.patchesPerImage + 1, batch: BATCH,
    steps: o.steps, step_ms: stepMs, sgemm: { n: o.sgemm, gflops: +sgemmGflops(o.sgemm, o.sgemmReps).toFixed(2) },
    peak_rss_train_mb: rssTrain, peak_rss_mb: rssEnd, sampling, tensor_drift: tensorDrift,
  };
  console.log(JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------------------------
// The parent: one child per setting, then the report.

/**
 * bench/torch_reference.py, looked for above this file (bench/ under ts-node, dist/bench once compiled: tsc does not
 * copy the script, so the first bench/torch_reference.py up the tree is the repository's).
 */
function referenceScript(): string | null {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'bench', 'torch_reference.py');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return null;
  }
}

/** The child's JSON line, or why there is none (the last line of its stderr). */
function childOutcome(side: Side, threads: number, r: ReturnType<typeof spawnSync>): Outcome {
  const line = String(r.stdout ?? '').split('\n').find((l) => l.startsWith('{'));
  if (r.status === 0 && line) return { side, threads, result: JSON.parse(line) as ChildResult };
  const why = r.error?.message ?? (String(r.stderr ?? '').trim().split('\n').pop() || `exit status ${r.status}`);
  return { side, threads, skipped: why };
}

function runPytorch(o: BenchOptions, threads: number, script: string): Outcome {
  const n = String(threads);
  const r = spawnSync(o.python, [script, '--threads', n, '--steps', String(o.steps), '--repeats', String(o.repeats), '--warmup', String(o.warmup),
    '--sgemm', String(o.sgemm), '--sgemm-reps', String(o.sgemmReps), '--sample-images', String(o.images),
    '--sample-steps', String(o.sampleSteps), '--guidance', String(o.guidance)], {
    encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n },
  });
  return childOutcome('pytorch', threads, r);
}

function runLab(o: BenchOptions, threads: number): Outcome {
  const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--child', JSON.stringify(o)], {
    encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, TRANSFUSION_THREADS: String(threads), TRANSFUSION_BACKEND: '' },
  });
  return childOutcome('nativecpu', threads, r);
}

/** Why PyTorch cannot run here, or null: checked once, so a machine without torch says so once per setting, fast. */
function torchMissing(python: string): string | null {
  const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${python}: ${r.error.message}`;
  return r.status === 0 ? null : `${python} cannot import torch (Debian: apt-get install python3-torch)`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const childAt = argv.indexOf('--child');
  if (childAt >= 0) return labChild(JSON.parse(argv[childAt + 1]) as BenchOptions);
  const o = parseArgs(argv);
  // Model FLOPs per training step of the reference's batch: 16 rows of 129 positions, 16 images, 63 LM targets a row.
  await initEngine({ backend: 'cpu' });
  const flops = transfusionFlops(resolveConfig('tiny'), { batchSize: BATCH, length: TEXT + 1 + 64 + 1, images: BATCH, lmPositions: BATCH * TEXT }).total;
  const script = referenceScript();
  const noTorch = o.sides.includes('pytorch') ? (script ? torchMissing(o.python) : `bench/torch_reference.py not found above ${__dirname}`) : null;
  const outcomes: Outcome[] = [];
  for (const threads of o.threads) {
    for (const side of o.sides) {
      const started = performance.now();
      process.stderr.write(`bench: ${side}, ${threads} thread(s) ... `);
      const outcome = side === 'pytorch'
        ? (noTorch ? { side, threads, skipped: noTorch } : runPytorch(o, threads, script!))
        : runLab(o, threads);
      process.stderr.write(`${'skipped' in outcome ? `skipped: ${outcome.skipped}` : 'done'} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
      outcomes.push(outcome);
    }
  }
  const report = buildReport(outcomes, flops);
  console.log(formatReport(report));
  if (o.quick) console.log('--quick: a check that the harness runs end to end (its options are in the JSON line below); its numbers are not measurements');
  console.log(JSON.stringify({
    bench: 'tiny', flops_per_step: flops, cores: os.availableParallelism(),
    options: { repeats: o.repeats, steps: o.steps, warmup: o.warmup, threads: o.threads, images: o.images, sample_steps: o.sampleSteps, guidance: o.guidance, sgemm: o.sgemm, quick: o.quick },
    ...report,
  }));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
