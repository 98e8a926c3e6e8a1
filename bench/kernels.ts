/**
 * Kernel speed per backend, one JSON line per measurement (a benchmark, not a test):
 *
 *   node -r ts-node/register/transpile-only bench/kernels.ts            GFLOP/s or GB/s (from the best of
 *                                                                        several runs) of a 512^3 matmul and
 *                                                                        a few hot ops, on nativecpu, wasm
 *                                                                        and cpu
 *   node -r ts-node/register/transpile-only bench/kernels.ts --profile  per-kernel time of one training step
 *                                                                        of a small transformer, per backend
 *
 * Options: --backends=nativecpu,wasm,cpu (default: those that load), --batch=N for the profile (default 2,
 * so the pure-JS backend finishes in seconds), TRANSFUSION_THREADS=N for nativecpu's thread count.
 * The full model's tokens/s benchmark is another script's job; this one explains where a step's time goes.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { tf } from '../src/engine/tf';
import { registerNativeCpu } from '../src/engine/nativecpu';

type Line = Record<string, string | number>;
const emit = (line: Line): void => console.log(JSON.stringify(line));

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

async function availableBackends(): Promise<string[]> {
  const wanted = option('backends', 'nativecpu,wasm,cpu').split(',');
  const ok: string[] = [];
  for (const name of wanted) {
    if (name === 'nativecpu' && !registerNativeCpu().ok) continue;
    if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend(name)) ok.push(name);
  }
  return ok;
}

/**
 * Milliseconds of f over enough repeats to fill ~`budgetMs`, after one warm-up run: the best (what the
 * kernel can do; on a shared machine other processes only ever add time) and the median.
 */
function time(f: () => tf.Tensor, budgetMs: number): { best: number; median: number } {
  const once = () => {
    const t0 = performance.now();
    const y = f();
    y.dataSync();
    y.dispose();
    return performance.now() - t0;
  };
  const first = once();
  const reps = Math.max(1, Math.min(50, Math.round(budgetMs / Math.max(first, 1e-3))));
  const times = Array.from({ length: reps }, once).sort((a, b) => a - b);
  return { best: times[0], median: times[Math.floor(reps / 2)] };
}

interface Op {
  readonly name: string;
  readonly inputs: number[][];
  readonly f: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Work per call: flops (for GFLOP/s) or bytes moved (for GB/s). */
  readonly flops?: number;
  readonly bytes?: number;
}

const OPS: Op[] = [
  { name: 'matmul 512^3', inputs: [[512, 512], [512, 512]], f: (a, b) => tf.matMul(a, b), flops: 2 * 512 ** 3 },
  { name: 'matmul [2064,256]x[256,768] (qkv of the tiny config)', inputs: [[2064, 256], [256, 768]], f: (a, b) => tf.matMul(a, b), flops: 2 * 2064 * 256 * 768 },
  { name: 'batched matmul [64,129,64]x[64,64,129] (attention scores)', inputs: [[64, 129, 64], [64, 129, 64]], f: (q, k) => tf.matMul(q, k, false, true), flops: 2 * 64 * 129 * 129 * 64 },
  { name: 'conv2d 3x3 [8,32,32,64]->64', inputs: [[8, 32, 32, 64], [3, 3, 64, 64]], f: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), flops: 2 * 8 * 32 * 32 * 64 * 9 * 64 },
  { name: 'softmax [64,129,129]', inputs: [[64, 129, 129]], f: (x) => tf.softmax(x), bytes: 8 * 64 * 129 * 129 },
  { name: 'add broadcast [2064,1024]+[1024]', inputs: [[2064, 1024], [1024]], f: (a, b) => tf.add(a, b), bytes: 8 * 2064 * 1024 },
  { name: 'mul [2064,1024]', inputs: [[2064, 1024], [2064, 1024]], f: (a, b) => tf.mul(a, b), bytes: 12 * 2064 * 1024 },
  { name: 'exp [2064,1024]', inputs: [[2064, 1024]], f: (x) => tf.exp(x), bytes: 8 * 2064 * 1024 },
  { name: 'sum over rows [2064,1024] axis 0', inputs: [[2064, 1024]], f: (x) => tf.sum(x, 0), bytes: 4 * 2064 * 1024 },
  { name: 'mean over last axis [2064,1024]', inputs: [[2064, 1024]], f: (x) => tf.mean(x, -1), bytes: 4 * 2064 * 1024 },
  { name: 'transpose heads [16,129,4,64]', inputs: [[16, 129, 4, 64]], f: (x) => tf.transpose(x, [0, 2, 1, 3]), bytes: 8 * 16 * 129 * 256 },
];

async function kernels(backends: string[]): Promise<void> {
  for (const op of OPS) {
    for (const backend of backends) {
      await tf.setBackend(backend);
      const xs = op.inputs.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', i + 1));
      // The pure-JS backend takes seconds for the big products: one repeat is enough there.
      const ms = time(() => op.f(...xs), backend === 'cpu' ? 1 : 600);
      tf.dispose(xs);
      const rate: Line = op.flops ? { gflops: +(op.flops / ms.best / 1e6).toFixed(2) } : { gbps: +(op.bytes! / ms.best / 1e6).toFixed(2) };
      emit({ bench: 'kernel', op: op.name, backend, best_ms: +ms.best.toFixed(3), median_ms: +ms.median.toFixed(3), ...rate });
    }
  }
}

/**
 * A small Llama-style transformer in plain tfjs ops, after the shared `tiny` benchmark config (RMSNorm,
 * RoPE, causal mask with a bidirectional image span, SwiGLU, untied head; text CE + 5 x patch MSE; AdamW),
 * with d_model 256 and 4 layers, 129 positions. Only the batch differs (option --batch).
 */
export function transformerStep(batch: number): () => void {
  const [d, layers, heads, ffn, vocab, textLen, patches, patchDim] = [256, 4, 4, 683, 262, 64, 64, 16];
  const len = textLen + patches + 1;
  const dh = d / heads;
  const params: Record<string, tf.Variable> = {};
  const param = (name: string, shape: number[], init: 'normal' | 'ones' = 'normal') => {
    params[name] = tf.variable(init === 'ones' ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.02, 'float32', Object.keys(params).length + 7), true, name);
  };
  param('emb', [vocab, d]);
  param('pin', [patchDim, d]);
  param('pout', [d, patchDim]);
  param('head', [d, vocab]);
  param('norm', [d], 'ones');
  for (let l = 0; l < layers; l++) {
    param(`${l}.qkv`, [d, 3 * d]);
    param(`${l}.o`, [d, d]);
    param(`${l}.w1`, [d, ffn]);
    param(`${l}.w3`, [d, ffn]);
    param(`${l}.w2`, [ffn, d]);
    param(`${l}.n1`, [d], 'ones');
    param(`${l}.n2`, [d], 'ones');
  }
  const consts = tf.tidy(() => {
    const allowed = tf.linalg.bandPart(tf.ones([len, len]), -1, 0).bufferSync();
    for (let i = textLen; i < textLen + patches; i++) for (let j = textLen; j < textLen + patches; j++) allowed.set(1, i, j);
    const angle = tf.outerProduct(tf.range(0, len), tf.pow(10000, tf.range(0, dh, 2).div(-dh)) as tf.Tensor1D);
    return {
      mask: tf.keep(tf.sub(1, allowed.toTensor()).mul(-1e9)),
      cos: tf.keep(tf.concat([angle.cos(), angle.cos()], -1)),
      sin: tf.keep(tf.concat([angle.sin(), angle.sin()], -1)),
    };
  });
  const rms = (x: tf.Tensor, w: tf.Tensor) => x.mul(x.square().mean(-1, true).add(1e-6).rsqrt()).mul(w);
  const rope = (x: tf.Tensor) => {
    const x1 = x.slice([0, 0, 0, 0], [-1, -1, -1, dh / 2]);
    const x2 = x.slice([0, 0, 0, dh / 2], [-1, -1, -1, dh / 2]);
    return x.mul(consts.cos).add(tf.concat([x2.neg(), x1], -1).mul(consts.sin));
  };
  const loss = (text: tf.Tensor, target: tf.Tensor, patchIn: tf.Tensor, eps: tf.Tensor): tf.Scalar => {
    const embed = (ids: tf.Tensor, n: number) => tf.gather(params.emb, ids.flatten()).reshape([batch, n, d]);
    let x = tf.concat([
      embed(text.slice([0, 0], [-1, textLen]), textLen),
      patchIn.reshape([batch * patches, patchDim]).matMul(params.pin).reshape([batch, patches, d]),
      embed(text.slice([0, textLen], [-1, 1]), 1),
    ], 1);
    for (let l = 0; l < layers; l++) {
      const h = rms(x, params[`${l}.n1`]).reshape([batch * len, d]);
      const [q, k, v] = tf.unstack(h.matMul(params[`${l}.qkv`]).reshape([batch, len, 3, heads, dh]).transpose([2, 0, 3, 1, 4]));
      const att = tf.softmax(rope(q).matMul(rope(k), false, true).mul(1 / Math.sqrt(dh)).add(consts.mask));
      x = x.add(att.matMul(v).transpose([0, 2, 1, 3]).reshape([batch * len, d]).matMul(params[`${l}.o`]).reshape([batch, len, d]));
      const h2 = rms(x, params[`${l}.n2`]).reshape([batch * len, d]);
      const a = h2.matMul(params[`${l}.w1`]);
      x = x.add(a.mul(a.sigmoid()).mul(h2.matMul(params[`${l}.w3`])).matMul(params[`${l}.w2`]).reshape([batch, len, d]));
    }
    x = rms(x, params.norm);
    const logits = x.slice([0, 0, 0], [-1, textLen - 1, -1]).reshape([batch * (textLen - 1), d]).matMul(params.head);
    const lm = tf.losses.softmaxCrossEntropy(tf.oneHot(target.flatten(), vocab), logits);
    const epsHat = x.slice([0, textLen, 0], [-1, patches, -1]).reshape([batch * patches, d]).matMul(params.pout);
    return lm.add(epsHat.sub(eps.reshape([batch * patches, patchDim])).square().mean().mul(5)) as tf.Scalar;
  };
  const moments: Record<string, [tf.Variable, tf.Variable]> = {};
  for (const k in params) moments[k] = [tf.variable(tf.zerosLike(params[k]), false), tf.variable(tf.zerosLike(params[k]), false)];
  let seed = 100;
  return () => tf.tidy(() => {
    const text = tf.randomUniform([batch, textLen + 1], 0, 256, 'int32', seed++);
    const target = tf.randomUniform([batch, textLen - 1], 0, 256, 'int32', seed++);
    const patchIn = tf.randomNormal([batch, patches, patchDim], 0, 1, 'float32', seed++);
    const eps = tf.randomNormal([batch, patches, patchDim], 0, 1, 'float32', seed++);
    const { grads } = tf.variableGrads(() => loss(text, target, patchIn, eps));
    // AdamW (beta 0.9 / 0.95, lr 3e-4, weight decay 0.1), bias correction left out: it does not change the kernels.
    for (const k in grads) {
      const [m, v] = moments[k];
      m.assign(m.mul(0.9).add(grads[k].mul(0.1)));
      v.assign(v.mul(0.95).add(grads[k].square().mul(0.05)));
      params[k].assign(params[k].mul(1 - 3e-4 * 0.1).sub(m.div(v.sqrt().add(1e-8)).mul(3e-4)));
    }
  });
}

/** Garbage-collection pauses, summed: kernels allocate their outputs, so a step's GC is part of its cost. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

async function profile(backends: string[]): Promise<void> {
  const batch = Number(option('batch', '2'));
  for (const backend of backends) {
    await tf.setBackend(backend);
    const step = transformerStep(batch);
    step();
    await settle();
    const gc0 = gcMs;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    step();
    const stepMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await settle();
    const stepGcMs = gcMs - gc0;
    const info = await tf.profile(() => step());
    const perKernel = new Map<string, { ms: number; calls: number }>();
    for (const k of info.kernels) {
      const entry = perKernel.get(k.name) ?? { ms: 0, calls: 0 };
      entry.ms += k.kernelTimeMs as number;
      entry.calls++;
      perKernel.set(k.name, entry);
    }
    const kernelMs = [...perKernel.values()].reduce((s, e) => s + e.ms, 0);
    emit({
      bench: 'step', backend, batch, positions: batch * 129, step_ms: +stepMs.toFixed(1), cpu_ms: +((cpu.user + cpu.system) / 1000).toFixed(1),
      gc_ms: +stepGcMs.toFixed(1), kernel_ms: +kernelMs.toFixed(1), tokens_per_s: +((batch * 129) / stepMs * 1000).toFixed(1),
    });
    for (const [name, e] of [...perKernel.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
      emit({ bench: 'step-kernel', backend, kernel: name, ms: +e.ms.toFixed(2), calls: e.calls, share: +(e.ms / kernelMs).toFixed(3) });
    }
    tf.disposeVariables();
  }
}

async function main(): Promise<void> {
  const backends = await availableBackends();
  emit({ bench: 'setup', backends: backends.join(','), threads: registerNativeCpu().ok ? (registerNativeCpu() as { threads: number }).threads : 0 });
  if (process.argv.includes('--profile')) await profile(backends);
  else await kernels(backends);
}

if (require.main === module) void main();
