import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ConfigError, ShapeError } from '../../src/config';
import { Module } from '../../src/blocks/module';
import { Conv2d, conv2d } from '../../src/blocks/conv';
import { ResBlock, Conditioning } from '../../src/blocks/resblock';
import { UNetDown, UNetUp, upsampleNearest2x } from '../../src/blocks/unet';
import { checkGradients } from '../helpers/gradcheck';

/** out[n, y, x, o] = b[o] + sum x[n, y s + ky - p, x s + kx - p, i] w[ky, kx, i, o], zeros outside: the oracle. */
function naiveConv(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, stride: number, pad: number): number[][][][] {
  const xa = x.arraySync() as number[][][][];
  const wa = w.arraySync() as number[][][][];
  const ba = b.arraySync() as number[];
  const [n, h, wd, cin] = x.shape;
  const [k, , , cout] = w.shape;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const out: number[][][][] = [];
  for (let bi = 0; bi < n; bi++) {
    out.push([]);
    for (let y = 0; y < oh; y++) {
      out[bi].push([]);
      for (let xx = 0; xx < ow; xx++) {
        const v = ba.slice();
        for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
          const [sy, sx] = [y * stride + ky - pad, xx * stride + kx - pad];
          if (sy < 0 || sx < 0 || sy >= h || sx >= wd) continue;
          for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) v[o] += xa[bi][sy][sx][i] * wa[ky][kx][i][o];
        }
        out[bi][y].push(v);
      }
    }
  }
  return out;
}

function randomize(m: Module, r: Rng, std = 0.3): void {
  for (const [, v] of m.namedParameters()) tf.tidy(() => v.assign(r.randomNormal(v.shape, 0, std)));
}

test('Conv2d (3x3 stride 1 and stride 2, 1x1) matches a naive convolution with PyTorch padding', () => {
  const r = new Rng(1);
  for (const [kernelSize, stride] of [[3, 1], [3, 2], [1, 1]]) {
    const conv = new Conv2d(2, 3, { kernelSize, stride, rng: r });
    tf.tidy(() => conv.bias!.assign(r.randomNormal([3])));
    const x = r.randomNormal([2, 6, 4, 2]);
    const before = tf.memory().numTensors;
    const y = conv.forward(x);
    assert.equal(tf.memory().numTensors, before + 1);
    const want = naiveConv(x, conv.weight, conv.bias!, stride, Math.floor(kernelSize / 2));
    assert.deepEqual(y.shape, [2, 6 / stride, 4 / stride, 3]);
    const got = y.arraySync() as number[][][][];
    want.flat(3).forEach((v, i) => assert.ok(Math.abs(v - got.flat(3)[i]) < 1e-5, `k${kernelSize} s${stride} index ${i}`));
    tf.dispose([x, y]);
    conv.dispose();
  }
});

test('conv2d gradients (filter gradient as a forward convolution) equal tfjs\'s own Conv2D gradients', () => {
  const r = new Rng(11);
  for (const [k, stride, h, w] of [[3, 1, 5, 4], [3, 2, 6, 6], [3, 2, 5, 7], [1, 1, 4, 3]]) {
    const pad = Math.floor(k / 2);
    const x = r.randomNormal([2, h, w, 3]);
    const filter = r.randomNormal([k, k, 3, 4]);
    const ours = tf.tidy(() => conv2d(x, filter, stride, pad));
    const probe = r.randomNormal(ours.shape);
    const before = tf.memory().numTensors;
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => conv2d(a, b, stride, pad).mul(probe).sum())([x, filter]);
    assert.equal(tf.memory().numTensors, before + 2);
    const [dx0, dw0] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad).mul(probe).sum())([x, filter]);
    assert.deepEqual(dw.shape, [k, k, 3, 4]);
    for (const [got, want, name] of [[dx, dx0, 'dx'], [dw, dw0, 'dw']] as const) {
      const [g, e] = [got.dataSync(), want.dataSync()];
      e.forEach((v, i) => assert.ok(Math.abs(g[i] - v) < 1e-4 * (1 + Math.abs(v)), `k${k} s${stride} ${h}x${w} ${name}[${i}]: ${g[i]} vs ${v}`));
    }
    tf.dispose([x, filter, ours, probe, dx, dw, dx0, dw0]);
  }
});

test('upsampleNearest2x copies each pixel into a 2x2 block', () => {
  const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
  const y = upsampleNearest2x(x);
  assert.deepEqual((y.arraySync() as number[][][][])[0].map((row) => row.map((p) => p[0])), [
    [1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4],
  ]);
  tf.dispose([x, y]);
});

test('a fresh ResBlock is the identity (zero-initialised conv2, ADM) and the timestep enters only when conditioned', () => {
  const r = new Rng(2);
  const x = r.randomNormal([2, 4, 4, 4]);
  const [t1, t2] = [r.randomNormal([2, 6]), r.randomNormal([2, 6])];
  const fresh = new ResBlock(4, 4, { conditioning: 'add', tembDim: 6, groups: 2, rng: r });
  const y = fresh.forward(x, t1);
  assert.deepEqual(Array.from(y.dataSync()), Array.from(x.dataSync()));
  y.dispose();
  fresh.dispose();
  for (const conditioning of ['add', 'scale-shift', 'none'] as Conditioning[]) {
    const block = new ResBlock(4, 8, { conditioning, tembDim: 6, groups: 2, rng: r });
    randomize(block, r);
    const [a, b] = [block.forward(x, t1), block.forward(x, t2)];
    const differ = Array.from(a.dataSync()).some((v, i) => v !== b.dataSync()[i]);
    assert.equal(differ, conditioning !== 'none', conditioning);
    if (block.timeEmbProj) {
      // A zero projection means "no timestep": (1 + 0) scale and 0 shift, or 0 added.
      for (const [, v] of block.timeEmbProj.namedParameters()) tf.tidy(() => v.assign(tf.zerosLike(v)));
      const [c, d] = [block.forward(x, t1), block.forward(x, t2)];
      assert.deepEqual(Array.from(c.dataSync()), Array.from(d.dataSync()), conditioning);
      tf.dispose([c, d]);
    }
    tf.dispose([a, b]);
    block.dispose();
  }
  tf.dispose([x, t1, t2]);
});

test('ResBlock gradients (input, timestep, every kind of weight) match finite differences, for add and scale-shift', () => {
  const r = new Rng(3);
  for (const conditioning of ['scale-shift', 'add'] as Conditioning[]) {
    const block = new ResBlock(2, 4, { conditioning, tembDim: 3, groups: 2, rng: r });
    randomize(block, r);
    const x = tf.variable(r.randomNormal([2, 3, 3, 2]));
    const temb = tf.variable(r.randomNormal([2, 3]));
    const probe = r.randomNormal([2, 3, 3, 4]);
    const loss = () => tf.tidy(() => block.forward(x, temb).mul(probe).sum() as tf.Scalar);
    const before = tf.memory().numTensors;
    const params = new Map(block.namedParameters());
    const picked = ['norm1.weight', 'conv1.weight', 'time_emb_proj.weight', 'time_emb_proj.bias', 'norm2.bias', 'conv2.weight', 'conv_shortcut.weight'];
    checkGradients(loss, [x, temb, ...picked.map((n) => params.get(n)!)], { label: conditioning });
    assert.equal(tf.memory().numTensors, before, `${conditioning} leaks`);
    tf.dispose([x, temb, probe]);
    block.dispose();
  }
});

test('UNetDown/UNetUp: one skip per level, shapes mirror, parameter names are dotted per level, no leaks', () => {
  const r = new Rng(4);
  const options = { channels: [4, 8], blocksPerLevel: 1, groups: 2, conditioning: 'add' as const, tembDim: 5, rng: r };
  const down = new UNetDown(4, options);
  const up = new UNetUp(8, { ...options, skip: true });
  assert.deepEqual(down.namedParameters().map(([n]) => n).filter((n) => n.endsWith('conv1.weight') || n.includes('downsample')), [
    'levels.0.blocks.0.conv1.weight', 'levels.0.downsample.weight', 'levels.0.downsample.bias', 'levels.1.blocks.0.conv1.weight',
  ]);
  // The up stack's first block at each level takes the level's skip on top of its input.
  const conv1 = new Map(up.namedParameters());
  assert.deepEqual(conv1.get('levels.1.blocks.0.conv1.weight')!.shape, [3, 3, 16, 8]);
  assert.deepEqual(conv1.get('levels.0.blocks.0.conv1.weight')!.shape, [3, 3, 12, 4]);
  assert.deepEqual(conv1.get('levels.1.upsample.conv.weight')!.shape, [3, 3, 8, 8]);
  const x = r.randomNormal([2, 8, 4, 4]);
  const temb = r.randomNormal([2, 5]);
  const before = tf.memory().numTensors;
  const { h, skips } = down.forward(x, temb);
  assert.deepEqual(h.shape, [2, 4, 2, 8]);
  assert.deepEqual(skips.map((s) => s.shape), [[2, 8, 4, 4], [2, 4, 2, 8]]);
  const out = up.forward(h, temb, skips);
  assert.deepEqual(out.shape, [2, 8, 4, 4]);
  assert.throws(() => up.forward(h, temb, skips.slice(1)), ShapeError);
  assert.throws(() => up.forward(h, temb, [skips[1], skips[0]]), ShapeError);
  tf.dispose([h, ...skips, out]);
  assert.equal(tf.memory().numTensors, before);
  const odd = tf.zeros([2, 5, 4, 4]);
  assert.throws(() => down.forward(odd, temb), ShapeError);
  odd.dispose();
  assert.throws(() => new UNetDown(4, { ...options, channels: [4, 5] }), (e: unknown) => e instanceof ConfigError && e.field === 'unet.channels.1');
  assert.throws(() => new ResBlock(4, 4, { conditioning: 'add', groups: 2 }), (e: unknown) => e instanceof ConfigError && e.field === 'ResBlock.tembDim');
  tf.dispose([x, temb]);
  down.dispose();
  up.dispose();
});
