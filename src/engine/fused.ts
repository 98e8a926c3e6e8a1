/**
 * Fused ops for the blocks: RMSNorm, SwiGLU's gate, RoPE's rotation and the AdamW update, each one native call on
 * the `nativecpu` backend (src/engine/nativecpuFused.ts, native/src/fused.cc) and the composed tfjs ops on every
 * other backend. The blocks ask `fusedOn()` and keep their composed code as the reference: test/engine/fused.test.ts
 * holds the fused values and gradients to the cpu backend's.
 *
 * TRANSFUSION_FUSED=0 (or `setFusedKernels(false)`) turns them off, to measure what they save
 * (`npm run bench:profile`) or to rule them out when a result looks wrong.
 */
import { tf } from './tf';
import { NATIVECPU, nativeCpuAddon } from './nativecpu';
import { FUSED, runFused } from './nativecpuFused';

function fromEnvironment(): boolean {
  const v = process.env.TRANSFUSION_FUSED;
  if (v === undefined || v === '' || v === '1') return true;
  if (v === '0') return false;
  throw new Error(`TRANSFUSION_FUSED=${JSON.stringify(v)}: allowed values are 0 (off) and 1 (on, the default)`);
}

let enabled = fromEnvironment();

/** Turns the fused kernels on or off for this process (they are on by default where `nativecpu` runs). */
export function setFusedKernels(on: boolean): void {
  if (typeof on !== 'boolean') throw new TypeError(`setFusedKernels: expected true or false, got ${JSON.stringify(on)}`);
  enabled = on;
}

/** Whether the next op runs fused: they are on and the current backend is `nativecpu`. */
export function fusedOn(): boolean {
  return enabled && tf.getBackend() === NATIVECPU;
}

const run = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor => runFused(name, inputs, attrs) as tf.Tensor;

/** x [..., D] float32, weight [D] float32: RMSNorm in one kernel (call only when fusedOn()). */
export function fusedRmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return run(FUSED.rmsNorm, { x, weight }, { eps });
}

/** a * sigmoid(a) * b, a and b float32 of one shape (call only when fusedOn()). */
export function fusedSwiglu(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return run(FUSED.swiglu, { a, b });
}

/**
 * x [B, H, L, Dh] rotated by the tables cos, sin [B or 1, L, Dh/2] (call only when fusedOn(); all float32).
 * Differentiable in x only.
 */
export function fusedRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  return run(FUSED.rotary, { x, cos, sin }, { inverse: false });
}

/**
 * Self-attention with RoPE in one kernel (call only when fusedOn(); all float32): q, k, v [B, L, H, Dh] as the
 * projections give them (no transposes), tables cos, sin [B or 1, L, Dh/2], bias the additive mask [B or 1, 1, L, L]
 * or null. Returns [B, L, H, Dh]: softmax(rot(q) rot(k)^T / sqrt(Dh) + bias) v per head. Differentiable in q, k, v.
 */
export function fusedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const inputs: tf.NamedTensorMap = { q, k, v, cos, sin };
  if (bias) inputs.bias = bias;
  const [out, probs] = runFused(FUSED.attention, inputs) as tf.Tensor[];
  // The probabilities stay alive while a gradient tape holds them (the backward needs them); this handle goes.
  probs.dispose();
  return out;
}

/**
 * `fusedAttention` for new positions after a KV cache's past (inference only, no gradient): pastK, pastV
 * [B, H, Lpast, Dh] as src/blocks/kvcache.ts stores them (keys rotated), bias [B or 1, 1, L, Lpast + L] or null.
 */
export function fusedCachedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, pastK: tf.Tensor, pastV: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const inputs: tf.NamedTensorMap = { q, k, v, pastK, pastV, cos, sin };
  if (bias) inputs.bias = bias;
  return run(FUSED.attentionCached, inputs);
}

/** One parameter's part of a fused AdamW update. */
export interface AdamWSlot {
  readonly param: tf.Variable;
  readonly grad: tf.Tensor;
  readonly m: tf.Variable;
  readonly v: tf.Variable;
  readonly decay: boolean;
}

export interface AdamWStep {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** 1 - beta1^t and 1 - beta2^t. */
  readonly bc1: number;
  readonly bc2: number;
  /** Every gradient is multiplied by this first (global-norm clipping; 1 = as given). */
  readonly gradScale: number;
}

type BackendData = { data: { get(id: object): { values: unknown } }; pool: { float32(n: number): Float32Array } };

/** The float32 values a tensor holds on the current (nativecpu) backend, exactly its size. */
function valuesOf(t: tf.Tensor, who: string): Float32Array {
  const v = (tf.backend() as unknown as BackendData).data.get(t.dataId).values;
  if (!(v instanceof Float32Array)) throw new Error(`${who}: a tensor of shape [${t.shape}] is not float32 data`);
  return v.length === t.size ? v : v.subarray(0, t.size);
}

/** sum of t^2 over every tensor, in one native call and in double (call only when fusedOn(); float32 tensors). */
export function fusedSumSquares(tensors: readonly tf.Tensor[]): number {
  const addon = nativeCpuAddon();
  if (!addon) throw new Error('fusedSumSquares: the nativecpu addon is not loaded');
  return addon.sumSquares(tensors.map((t) => valuesOf(t, 'fusedSumSquares')));
}

/**
 * AdamW over every slot in one native call (src/train/adamw.ts's formula; call only when fusedOn() and every
 * tensor is float32). New parameter and moment tensors are written and assigned; the old ones are released, so
 * a tensor elsewhere that shares a variable's data (a clone) keeps its values.
 */
export function fusedAdamW(slots: readonly AdamWSlot[], step: AdamWStep): void {
  const addon = nativeCpuAddon();
  if (!addon) throw new Error('fusedAdamW: the nativecpu addon is not loaded');
  const backend = tf.backend() as unknown as BackendData;
  const values = (t: tf.Tensor): Float32Array => valuesOf(t, 'fusedAdamW');
  const outputs = slots.map((s) => [s.param.size, s.param.size, s.param.size].map((n) => backend.pool.float32(n)));
  const tensors = slots.map((s, i) => [values(s.param), values(s.grad), values(s.m), values(s.v), ...outputs[i]]);
  const decay = Uint8Array.from(slots, (s) => (s.decay ? 1 : 0));
  const hyper = Float32Array.of(step.lr, step.beta1, step.beta2, step.eps, step.lr * step.weightDecay, step.bc1, step.bc2, step.gradScale);
  addon.adamw(tensors, decay, hyper);
  slots.forEach((s, i) => {
    const [p, m, v] = outputs[i].map((o) => tf.tensor(o, s.param.shape, 'float32'));
    s.param.assign(p);
    s.m.assign(m);
    s.v.assign(v);
    tf.dispose([p, m, v]);
  });
}
