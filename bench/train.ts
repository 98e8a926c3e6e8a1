/**
 * `npm run bench`: the shared speed yardstick (../shared/bench/README.md, configuration `tiny`) on every
 * available backend, then PyTorch's reference (../shared/bench/torch_reference.py) on the same machine in the
 * same run. One JSON line per backend:
 *   { backend, device, params, seq, batch, step_ms, tokens_per_s, peak_rss_mb, tensor_drift, steps, sample_images_per_s }
 * and a final line with the ratio of each backend's tokens/s to PyTorch's.
 *
 * Each backend runs in its own child process, so its peak RSS is its own and no tensor crosses backends.
 * Env: BENCH_STEPS (timed steps, default 5; the slow pure-JS `cpu` backend runs 1), BENCH_BACKENDS
 * (comma list), THREADS (PyTorch threads, default 2), TORCH=0 to skip PyTorch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../src/engine/tf';
import { initEngine, type BackendName } from '../src/engine/engine';
import { Rng, setSeed } from '../src/engine/random';
import { Transfusion } from '../src/model/transfusion';
import { Trainer, makeTrainConfig } from '../src/train/trainer';
import { layoutFromRuns } from '../src/blocks/layout';
import type { MixedBatch } from '../src/data/sequence';
import { textToImage } from '../src/generate/index';

const TEXT = 63;
const BATCH = 16;
const BOI = 259;
const EOI = 260;

/** The reference's batch: 63 random bytes, BOI, 64 patches, EOI; LM targets on the text (and BOI) only. */
function referenceBatch(rng: Rng, patches: number, latentSize: number): MixedBatch {
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

async function runOne(backend: BackendName, steps: number): Promise<void> {
  const engine = await initEngine({ backend });
  setSeed(0);
  const model = Transfusion.create('tiny');
  const { channels, height, width } = model.config.net.latent;
  const trainer = new Trainer(model, makeTrainConfig({ gradClip: 0, lrSchedule: { kind: 'constant' }, optimizer: { weightDecay: 0.01 } }));
  const rng = new Rng(1);
  const batches = Array.from({ length: 2 }, () => referenceBatch(rng, model.net.patchesPerImage, channels * height * width));
  let i = 0;
  const loss = () => model.loss(batches[i++ % batches.length], rng);
  const warmup = 2;
  for (let s = 0; s < warmup; s++) trainer.trainStep(loss);
  const tensorsAfterWarmup = tf.memory().numTensors;
  const started = performance.now();
  for (let s = 0; s < steps; s++) trainer.trainStep(loss);
  const stepMs = (performance.now() - started) / steps;
  const L = batches[0].length;
  const tensorDrift = tf.memory().numTensors - tensorsAfterWarmup;
  console.log(JSON.stringify({
    backend, device: engine.device, params: model.numParameters(), seq: L, batch: BATCH,
    step_ms: +stepMs.toFixed(1), tokens_per_s: +((BATCH * L * 1000) / stepMs).toFixed(1),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024), tensor_drift: tensorDrift, steps,
    ...sampling(model, backend),
  }));
}

/**
 * Sampling speed: `BATCH` images from 63-byte captions with 50 DDIM steps, the caption prefix in the KV cache and
 * computed once (no guidance, as torch_reference.py's DDIM). Skipped on the pure-JS cpu backend (minutes per batch)
 * and with BENCH_SAMPLE=0.
 */
function sampling(model: Transfusion, backend: BackendName): { sample_images_per_s?: number; sample_steps?: number } {
  if (backend === 'cpu' || process.env.BENCH_SAMPLE === '0') return {};
  const captions = Array.from({ length: BATCH }, (_, i) => `a caption of sixty-three bytes for image number ${String(i).padStart(2, '0')} of sixteen.`.slice(0, TEXT - 1));
  const steps = 50;
  const started = performance.now();
  const images = textToImage(model, captions, { sampler: { kind: 'ddim', steps, eta: 0 }, guidanceScale: 1 }, { rng: new Rng(2) });
  images.dataSync();
  const seconds = (performance.now() - started) / 1000;
  images.dispose();
  return { sample_images_per_s: +(BATCH / seconds).toFixed(3), sample_steps: steps };
}

function torchReference(): Record<string, unknown> | null {
  const script = join(__dirname, '..', '..', '..', 'shared', 'bench', 'torch_reference.py');
  const alt = join(process.cwd(), '..', 'shared', 'bench', 'torch_reference.py');
  const path = existsSync(script) ? script : alt;
  if (process.env.TORCH === '0' || !existsSync(path) || !existsSync('/usr/bin/python3')) return null;
  const r = spawnSync('/usr/bin/python3', [path], { encoding: 'utf8', env: { ...process.env, THREADS: process.env.THREADS ?? '2' } });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.log(JSON.stringify({ impl: 'pytorch', skipped: (r.stderr || 'no output').trim().split('\n').pop() }));
    return null;
  }
  console.log(line);
  return JSON.parse(line);
}

async function main(): Promise<void> {
  const child = process.env.BENCH_BACKEND as BackendName | undefined;
  const defaultSteps = Number(process.env.BENCH_STEPS ?? 5);
  if (child) return runOne(child, child === 'cpu' ? Math.min(1, defaultSteps) : defaultSteps);
  const backends = (process.env.BENCH_BACKENDS ?? 'nativecpu,wasm,cpu').split(',');
  const results: Record<string, number> = {};
  for (const b of backends) {
    const r = spawnSync(process.execPath, [...process.execArgv, __filename], { encoding: 'utf8', env: { ...process.env, BENCH_BACKEND: b } });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (r.status !== 0 || !line) {
      console.log(JSON.stringify({ backend: b, skipped: (r.stderr || 'no output').trim().split('\n').find((l) => /Error/.test(l)) ?? 'failed' }));
      continue;
    }
    console.log(line);
    results[b] = JSON.parse(line).tokens_per_s;
  }
  const torch = torchReference();
  if (torch) {
    const ratio = Object.fromEntries(Object.entries(results).map(([b, v]) => [b, +(v / (torch.tokens_per_s as number)).toFixed(3)]));
    console.log(JSON.stringify({ ratio_to_pytorch: ratio, pytorch_tokens_per_s: torch.tokens_per_s, threads: torch.threads }));
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
