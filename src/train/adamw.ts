/**
 * AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient.
 *
 * Written here because tfjs ships Adam but not AdamW, and because the lab needs the optimiser state by
 * parameter name (checkpoints are state dicts) and a learning rate that changes every step.
 * Defaults are the Transfusion paper's (§4.1): betas (0.9, 0.95), eps 1e-8, weight decay 0.1.
 */
import { tf } from '../engine/tf';
import { check } from '../config';
import { fusedAdamW, fusedOn, type AdamWSlot } from '../engine/fused';

export interface AdamWConfig {
  /** Peak learning rate (paper: 3e-4). */
  readonly lr: number;
  /** First-moment decay (paper: 0.9). */
  readonly beta1: number;
  /** Second-moment decay (paper: 0.95, as in most LLM recipes; Adam's 0.999 adapts too slowly). */
  readonly beta2: number;
  /** Added to sqrt(v) (paper: 1e-8). */
  readonly eps: number;
  /** Decoupled decay (paper: 0.1), applied to matrices only: norms, biases and 1-D gains are not decayed (nanoGPT). */
  readonly weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { lr: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

export function validateAdamW(c: AdamWConfig, field = 'optimizer'): AdamWConfig {
  check.positive(`${field}.lr`, c.lr);
  check.inRange(`${field}.beta1`, c.beta1, 0, 0.999999);
  check.inRange(`${field}.beta2`, c.beta2, 0, 0.999999);
  check.positive(`${field}.eps`, c.eps);
  check.nonNegative(`${field}.weightDecay`, c.weightDecay);
  return c;
}

/** A non-trainable variable from `initial`, disposing `initial` (the variable keeps its own reference). */
export function owned(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial, false);
  initial.dispose();
  return v;
}

export class AdamW {
  /** Number of updates applied so far (bias correction uses it). */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(readonly config: AdamWConfig = DEFAULT_ADAMW) {
    validateAdamW(config);
  }

  /**
   * Apply one update to `params` (by dotted name) from `grads` (same names) at learning rate `lr`, each gradient
   * multiplied by `gradScale` first (the trainer's global-norm clipping; default 1).
   */
  apply(params: ReadonlyArray<readonly [string, tf.Variable]>, grads: Readonly<Record<string, tf.Tensor>>, lr: number, gradScale = 1): void {
    if (!(gradScale > 0 && Number.isFinite(gradScale))) throw new RangeError(`AdamW.apply: gradScale must be a finite number > 0, got ${gradScale}`);
    const { beta1, beta2, eps, weightDecay } = this.config;
    this.step += 1;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    if (fusedOn()) {
      // Every parameter in one native call (src/engine/fused.ts), the formula below; about 15 kernels per
      // parameter otherwise.
      const slots: AdamWSlot[] = [];
      for (const [name, p] of params) {
        const g = grads[name];
        if (!g || !p.trainable) continue;
        slots.push({ param: p, grad: g, m: this.moment(this.m, name, p), v: this.moment(this.v, name, p), decay: weightDecay > 0 && p.rank >= 2 });
      }
      if (slots.every((s) => s.param.dtype === 'float32' && s.grad.dtype === 'float32')) {
        fusedAdamW(slots, { lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale });
        return;
      }
    }
    for (const [name, p] of params) {
      const given = grads[name];
      if (!given || !p.trainable) continue;
      const m = this.moment(this.m, name, p);
      const v = this.moment(this.v, name, p);
      tf.tidy(() => {
        const g = gradScale === 1 ? given : given.mul(gradScale);
        const mNew = m.mul(beta1).add(g.mul(1 - beta1));
        const vNew = v.mul(beta2).add(g.square().mul(1 - beta2));
        m.assign(mNew);
        v.assign(vNew);
        // Adam update with bias correction (Kingma & Ba 2015, Alg. 1), then decoupled decay (AdamW eq. in Alg. 2 l.12).
        const update = mNew.div(bc1).div(vNew.div(bc2).sqrt().add(eps));
        let next = p.sub(update.mul(lr));
        if (weightDecay > 0 && p.rank >= 2) next = next.sub(p.mul(lr * weightDecay));
        p.assign(next);
      });
    }
  }

  private moment(store: Map<string, tf.Variable>, name: string, p: tf.Variable): tf.Variable {
    let s = store.get(name);
    if (!s) {
      s = owned(tf.zerosLike(p));
      store.set(name, s);
    }
    return s;
  }

  /** Optimiser state as named tensors (`m.<param>`, `v.<param>`) plus the step, for checkpoints. */
  stateDict(): { step: number; tensors: Record<string, tf.Tensor> } {
    const tensors: Record<string, tf.Tensor> = {};
    for (const [n, t] of this.m) tensors[`m.${n}`] = t;
    for (const [n, t] of this.v) tensors[`v.${n}`] = t;
    return { step: this.step, tensors };
  }

  /** Restore from `stateDict()` output (tensors are copied). */
  loadStateDict(state: { step: number; tensors: Readonly<Record<string, tf.Tensor>> }): void {
    this.dispose();
    this.step = state.step;
    for (const [key, t] of Object.entries(state.tensors)) {
      const store = key.startsWith('m.') ? this.m : key.startsWith('v.') ? this.v : null;
      if (!store) throw new Error(`AdamW.loadStateDict: unexpected key '${key}' (expected 'm.<param>' or 'v.<param>')`);
      store.set(key.slice(2), owned(t.clone()));
    }
  }

  dispose(): void {
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
