/**
 * `npm run bench:profile`: where a training step of the lab's own model spends its time, kernel by kernel
 * (issue #17: "profile before and after each change"). The model is `tiny` on the shared yardstick's batch
 * (bench/train.ts's referenceBatch: 16 rows of 63 bytes, BOI, 64 patches, EOI), trained by the lab's Trainer
 * (forward, backward, AdamW) on `nativecpu` at TRANSFUSION_THREADS threads.
 *
 * It prints one JSON line per kernel name (milliseconds and calls per step, share of the kernels' time, from
 * tf.profile), then a summary line: the step's wall time unprofiled (median of --steps), the kernels' sum,
 * and the rest (JavaScript between kernels: tfjs's bookkeeping, autodiff, tidy, garbage collection).
 * Options: --steps N (5), --warmup N (2), --top N (20 kernel lines; 0 for all), --by-shape (one line per kernel
 * and input shapes, e.g. to see which matrix products cost most), --sampling (profile the bench's sampling instead:
 * 16 images, 50 DDIM steps, guidance 3, KV-cached prompt; --steps then counts sampling runs).
 */
import { tf } from '../src/engine/tf';
import { initEngine } from '../src/engine/engine';
import { nativeCpuThreads } from '../src/engine/nativecpu';
import { Rng } from '../src/engine/random';
import { textToImage } from '../src/generate/index';
import { benchModel, captions } from './train';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const v = Number(process.argv[at + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name}: got ${JSON.stringify(process.argv[at + 1])}; allowed: an integer >= 0`);
  return v;
}

async function main(): Promise<void> {
  const steps = Math.max(1, option('steps', 5));
  const warmup = option('warmup', 2);
  const top = option('top', 20);
  const byShape = process.argv.includes('--by-shape');
  const engine = await initEngine({ backend: 'nativecpu' });
  // The bench's model, trainer and batches (bench/train.ts), so the two measure the same step.
  const { model, trainer, rng, loss } = benchModel();
  const sampling = process.argv.includes('--sampling');
  const prompts = captions(16, rng);
  // The bench's sampling (bench/train.ts): 16 images, 50 DDIM steps, guidance 3, the prompt in a KV cache.
  const sample = (): void => {
    const images = textToImage(model, prompts, { sampler: { kind: 'ddim', steps: 50, eta: 0 }, guidanceScale: 3, cache: true }, { rng: new Rng(2) });
    images.dataSync();
    images.dispose();
  };
  const step = sampling ? sample : (): void => void trainer.trainStep(loss);
  for (let s = 0; s < warmup; s++) step();
  const wall: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    step();
    wall.push(performance.now() - t0);
  }
  wall.sort((a, b) => a - b);
  const perKernel = new Map<string, { ms: number; calls: number }>();
  for (let s = 0; s < steps; s++) {
    const info = await tf.profile(step);
    for (const k of info.kernels) {
      const key = byShape ? `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(' ')}` : k.name;
      const e = perKernel.get(key) ?? { ms: 0, calls: 0 };
      e.ms += (k.kernelTimeMs as number) / steps;
      e.calls += 1 / steps;
      perKernel.set(key, e);
    }
  }
  const kernelMs = [...perKernel.values()].reduce((s, e) => s + e.ms, 0);
  const rows = [...perKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
  for (const [name, e] of top > 0 ? rows.slice(0, top) : rows) {
    console.log(JSON.stringify({ kernel: name, ms: +e.ms.toFixed(2), calls: Math.round(e.calls), share: +(e.ms / kernelMs).toFixed(3) }));
  }
  const median = wall[Math.floor(wall.length / 2)];
  const calls = [...perKernel.values()].reduce((s, e) => s + e.calls, 0);
  console.log(JSON.stringify({
    engine: engine.line, threads: nativeCpuThreads(), measured: sampling ? 'sampling 16 images x 50 DDIM steps' : 'training step', step_ms: +median.toFixed(1), step_ms_min: +wall[0].toFixed(1),
    kernel_ms: +kernelMs.toFixed(1), kernel_calls: Math.round(calls), outside_kernels_ms: +(median - kernelMs).toFixed(1),
  }));
}

void main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
