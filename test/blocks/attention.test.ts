import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { MultiHeadAttention, MASKED } from '../../src/blocks/attention';
import { ConfigError, ShapeError } from '../../src/config';
import { checkGradients } from '../helpers/gradcheck';

type Allow = (b: number, i: number, j: number) => boolean;

/**
 * Attention written out with loops, from the definitions: y = x W (weights [in, out]); per head, RoPE on the
 * pairs (j, j + Dh/2) with theta_j = base^(-2j/Dh); optional RMSNorm (weight 1) on q and k before RoPE;
 * softmax(q.k / sqrt(Dh)) over the allowed keys; concat heads; times Wo.
 */
function naiveAttention(x: number[][][], w: Record<'q' | 'k' | 'v' | 'o', Float32Array>, pos: number[][], allow: Allow, heads: number, qkNorm = false, eps = 1e-6): number[][][] {
  const D = x[0][0].length;
  const Dh = D / heads;
  const proj = (row: number[], m: Float32Array) => Array.from({ length: D }, (_, o) => row.reduce((s, xi, i) => s + xi * m[i * D + o], 0));
  const rms = (v: number[]) => {
    const r = Math.sqrt(v.reduce((s, a) => s + a * a, 0) / v.length + eps);
    return v.map((a) => a / r);
  };
  const rope = (v: number[], p: number) => {
    const out = v.slice();
    for (let j = 0; j < Dh / 2; j++) {
      const a = p * Math.pow(10000, (-2 * j) / Dh);
      out[j] = v[j] * Math.cos(a) - v[j + Dh / 2] * Math.sin(a);
      out[j + Dh / 2] = v[j + Dh / 2] * Math.cos(a) + v[j] * Math.sin(a);
    }
    return out;
  };
  return x.map((seq, b) => {
    const L = seq.length;
    const q = seq.map((r) => proj(r, w.q));
    const k = seq.map((r) => proj(r, w.k));
    const v = seq.map((r) => proj(r, w.v));
    const out = seq.map(() => new Array(D).fill(0));
    for (let h = 0; h < heads; h++) {
      const head = (m: number[][], i: number, norm: boolean) => {
        const part = m[i].slice(h * Dh, (h + 1) * Dh);
        return norm ? rms(part) : part;
      };
      for (let i = 0; i < L; i++) {
        const qi = rope(head(q, i, qkNorm), pos[b][i]);
        const scores = Array.from({ length: L }, (_, j) => {
          const kj = rope(head(k, j, qkNorm), pos[b][j]);
          return allow(b, i, j) ? qi.reduce((s, a, c) => s + a * kj[c], 0) / Math.sqrt(Dh) : -Infinity;
        });
        const mx = Math.max(...scores);
        const e = scores.map((s) => (s === -Infinity ? 0 : Math.exp(s - mx)));
        const z = e.reduce((s, a) => s + a, 0);
        for (let j = 0; j < L; j++) for (let c = 0; c < Dh; c++) out[i][h * Dh + c] += (e[j] / z) * v[j][h * Dh + c];
      }
    }
    return out.map((r) => proj(r, w.o));
  });
}

function build(options: { qkNorm?: boolean; seed?: number; attentionDropout?: number } = {}): MultiHeadAttention {
  // A larger init std than the default, so that the softmax is far from uniform and the test has teeth.
  return new MultiHeadAttention(8, 2, { initStd: 0.4, rng: new Rng(options.seed ?? 1), qkNorm: options.qkNorm, attentionDropout: options.attentionDropout });
}

const L = 4;
// Text, image, image, text: the image pair is bidirectional (transfusion mask), the rest causal.
const allow: Allow = (b, i, j) => j <= i || (b === 0 && (i === 1 || i === 2) && (j === 1 || j === 2));
function boolMask(): tf.Tensor {
  const v: number[] = [];
  for (let b = 0; b < 2; b++) for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) v.push(allow(b, i, j) ? 1 : 0);
  return tf.tensor3d(v, [2, L, L], 'bool');
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

for (const qkNorm of [false, true]) {
  test(`attention matches a loop implementation (qkNorm ${qkNorm}) with a per-row mask and free positions`, () => {
    const attn = build({ qkNorm });
    const x = new Rng(2).randomNormal([2, L, 8]);
    const pos = [[0, 1, 1, 2], [3, 9, 4, 0]];
    const mask = boolMask();
    const positions = tf.tensor2d(pos, [2, L], 'int32');
    const y = attn.forward(x, { positions, mask });
    const w = { q: attn.wq.weight, k: attn.wk.weight, v: attn.wv.weight, o: attn.wo.weight };
    const weights = Object.fromEntries(Object.entries(w).map(([n, t]) => [n, t.dataSync() as Float32Array])) as Record<'q' | 'k' | 'v' | 'o', Float32Array>;
    const want = naiveAttention(x.arraySync() as number[][][], weights, pos, allow, 2, qkNorm).flat(2);
    close(y.dataSync(), want, 2e-5, 'y');
    tf.dispose([x, mask, positions, y]);
    attn.dispose();
  });
}

test('parameter names are wq/wk/wv/wo (+ q_norm/k_norm), no biases', () => {
  const a = build({ qkNorm: true });
  assert.deepEqual(a.namedParameters().map(([n, v]) => `${n} [${v.shape}]`), [
    'wq.weight [8,8]', 'wk.weight [8,8]', 'wv.weight [8,8]', 'wo.weight [8,8]', 'q_norm.weight [4]', 'k_norm.weight [4]',
  ]);
  a.dispose();
});

test('mask forms agree: boolean and additive, [L, L], [B, L, L] and [B, 1, L, L]; null is full attention', () => {
  const attn = build();
  const x = new Rng(3).randomNormal([2, L, 8]);
  const before = tf.memory().numTensors;
  const outputs = tf.tidy(() => {
    const positions = tf.tensor2d([[0, 1, 2, 3]], [1, L], 'int32');
    const causal = tf.linalg.bandPart(tf.ones([L, L]), -1, 0);
    const forms = [
      causal.cast('bool'),
      causal.sub(1).mul(-MASKED),
      causal.cast('bool').expandDims(0).tile([2, 1, 1]),
      causal.sub(1).mul(-MASKED).reshape([1, 1, L, L]),
    ];
    const ys = forms.map((mask) => attn.forward(x, { positions, mask }).dataSync());
    const full = attn.forward(x, { positions, mask: null }).dataSync();
    const allTrue = attn.forward(x, { positions, mask: tf.ones([L, L]).cast('bool') }).dataSync();
    return { ys, full, allTrue };
  });
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  for (const y of outputs.ys.slice(1)) close(y, outputs.ys[0], 1e-6, 'form');
  close(outputs.allTrue, outputs.full, 1e-6, 'all-true mask = no mask');
  assert.ok(Math.abs(outputs.full[0] - outputs.ys[0][0]) > 1e-5, 'the causal mask changes position 0');
  x.dispose();
  attn.dispose();
});

test('bad mask and position shapes fail saying expected and received', () => {
  const attn = build();
  tf.tidy(() => {
    const x = tf.zeros([2, L, 8]);
    const positions = tf.zeros([2, L], 'int32');
    assert.throws(() => attn.forward(x, { positions, mask: tf.ones([L, L + 1]) }),
      (e: unknown) => e instanceof ShapeError && e.message.includes('[4, 4], [2 or 1, 4, 4] or [2 or 1, 1, 4, 4]') && e.message.includes('received [4, 5]'));
    assert.throws(() => attn.forward(x, { positions, mask: tf.ones([3, L, L]) }), (e: unknown) => e instanceof ShapeError && e.message.includes('received [3, 4, 4]'));
    assert.throws(() => attn.forward(x, { positions, mask: tf.ones([2, 2, L, L]) }), (e: unknown) => e instanceof ShapeError && e.message.includes('received [2, 2, 4, 4]'));
    assert.throws(() => attn.forward(x, { positions: tf.zeros([2, L + 1]), mask: null }), (e: unknown) => e instanceof ShapeError && e.message.includes('received [2, 5]'));
    assert.throws(() => attn.forward(tf.zeros([2, L, 6]), { positions, mask: null }), (e: unknown) => e instanceof ShapeError && e.message.includes('[B, L, 8]'));
  });
  attn.dispose();
});

test('bad head counts fail naming the field', () => {
  assert.throws(() => new MultiHeadAttention(8, 3), (e: unknown) => e instanceof ConfigError && e.field === 'attention.nHeads' && e.value === 3);
  assert.throws(() => new MultiHeadAttention(6, 2), (e: unknown) => e instanceof ConfigError && e.field === 'attention.nHeads' && /even head width/.test(e.message));
});

test('attention gradients match central finite differences (input, wq, wo)', () => {
  const attn = build({ qkNorm: true });
  const r = new Rng(7);
  const x = tf.variable(r.randomNormal([2, L, 8]));
  const probe = r.randomNormal([2, L, 8]);
  const positions = tf.tensor2d([[0, 1, 1, 2], [0, 1, 2, 3]], [2, L], 'int32');
  const mask = boolMask();
  const loss = () => tf.tidy(() => attn.forward(x, { positions, mask }).mul(probe).sum() as tf.Scalar);
  checkGradients(loss, [x, attn.wq.weight, attn.wo.weight], { coords: (size) => [1, 17, size - 2] });
  tf.dispose([x, probe, positions, mask]);
  attn.dispose();
});

test('attention dropout acts in train mode only, reproducibly from the seed', () => {
  const run = (train: boolean, seed: number, attentionDropout = 0.5) => {
    const attn = build({ attentionDropout, seed }).train(train);
    const x = new Rng(9).randomNormal([1, L, 8]);
    const positions = tf.tensor2d([[0, 1, 2, 3]], [1, L], 'int32');
    const y = attn.forward(x, { positions, mask: null });
    const out = Array.from(y.dataSync());
    tf.dispose([x, positions, y]);
    attn.dispose();
    return out;
  };
  const plain = run(true, 1, 0); // a module starts in train mode; rate 0 drops nothing
  assert.deepEqual(run(false, 1), plain, 'eval mode: no dropout');
  assert.deepEqual(run(true, 1), run(true, 1), 'same seed, same masks');
  assert.notDeepEqual(run(true, 1), plain, 'train mode drops');
});
