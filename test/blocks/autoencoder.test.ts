import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ConfigError, ShapeError } from '../../src/config';
import { Module } from '../../src/blocks/module';
import { Linear } from '../../src/blocks/linear';
import {
  Autoencoder,
  AutoencoderConfigInput,
  DEFAULT_VAE,
  IdentityAutoencoder,
  makeAutoencoder,
  resolveAutoencoderConfig,
} from '../../src/blocks/autoencoder';

function names(m: Module): [string, number[]][] {
  return m.namedParameters().map(([n, v]) => [n, v.shape]);
}

function same(a: tf.Tensor, b: tf.Tensor): boolean {
  const [x, y] = [a.dataSync(), b.dataSync()];
  return a.shape.join() === b.shape.join() && x.every((v, i) => v === y[i]);
}

/** Images in [-1, 1], as the interface promises. */
function images(r: Rng, shape: number[]): tf.Tensor {
  return r.randomUniform(shape, -1, 1);
}

/**
 * The interface suite every autoencoder passes unmodified (docs/ARCHITECTURE.md, 'Interface suites'), through the
 * public factory only.
 */
function autoencoderSuite(label: string, config: AutoencoderConfigInput, want: { latentChannels: number; downsample: number }): void {
  const [B, H, W] = [2, 8, 8];

  test(`${label}: encode -> [B, H/f, W/f, c], decode -> [B, H, W, Cimg], loss -> finite scalars, no leaks`, () => {
    const ae = makeAutoencoder(config, { rng: new Rng(1) });
    assert.equal(ae.latentChannels, want.latentChannels);
    assert.equal(ae.downsample, want.downsample);
    const x = images(new Rng(2), [B, H, W, ae.imageChannels]);
    const before = tf.memory().numTensors;
    const z = ae.encode(x);
    assert.deepEqual(z.shape, [B, H / ae.downsample, W / ae.downsample, ae.latentChannels]);
    const y = ae.decode(z);
    assert.deepEqual(y.shape, [B, H, W, ae.imageChannels]);
    const { total, breakdown } = ae.loss(x, new Rng(3));
    assert.equal(total.rank, 0);
    assert.ok(Number.isFinite(total.dataSync()[0]) && total.dataSync()[0] >= 0);
    assert.ok('recon' in breakdown);
    for (const v of Object.values(breakdown)) assert.ok(v.rank === 0 && Number.isFinite(v.dataSync()[0]));
    tf.dispose([z, y, total, ...Object.values(breakdown)]);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    ae.dispose();
  });

  test(`${label}: every trainable parameter gets a gradient from loss.total, and the step leaks nothing`, () => {
    const ae = makeAutoencoder(config, { rng: new Rng(4) });
    const x = images(new Rng(5), [B, H, W, ae.imageChannels]);
    const vars = ae.trainableParameters();
    const before = tf.memory().numTensors;
    if (vars.length > 0) {
      const { value, grads } = tf.variableGrads(() => tf.tidy(() => ae.loss(x, new Rng(6)).total), vars);
      for (const [n, v] of ae.namedParameters()) {
        // Zero-initialised conv2 of each ResBlock hides the weights before it at step 0, as in ADM.
        if (/blocks\.\d+\.(norm1|conv1|norm2)/.test(n)) continue;
        assert.ok(grads[v.name].dataSync().some((g) => g !== 0), `${n} has no gradient`);
      }
      tf.dispose([value, ...Object.values(grads)]);
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    ae.dispose();
  });

  test(`${label}: the config survives JSON; config + state dict rebuild bit-identical encode and decode`, () => {
    const ae = makeAutoencoder(config, { rng: new Rng(7) });
    const other = makeAutoencoder(JSON.parse(JSON.stringify(ae.config)), { rng: new Rng(8) });
    assert.deepEqual(other.config, ae.config);
    assert.deepEqual(names(other), names(ae));
    other.loadStateDict(ae.stateDict());
    const x = images(new Rng(9), [B, H, W, ae.imageChannels]);
    const [z1, z2] = [ae.encode(x), other.encode(x)];
    const [y1, y2] = [ae.decode(z1), other.decode(z2)];
    assert.ok(same(z1, z2) && same(y1, y2));
    tf.dispose([x, z1, z2, y1, y2]);
    ae.dispose();
    other.dispose();
  });

  test(`${label}: images of the wrong shape are refused with the expected and received shapes`, () => {
    const ae = makeAutoencoder(config);
    const wrongChannels = tf.zeros([1, H, W, ae.imageChannels + 1]);
    assert.throws(() => ae.encode(wrongChannels), ShapeError);
    if (ae.downsample > 1) {
      const odd = tf.zeros([1, H + 1, W, ae.imageChannels]);
      assert.throws(() => ae.encode(odd), (e: unknown) => e instanceof ShapeError && /multiples of/.test(e.message));
      assert.throws(() => ae.loss(odd), ShapeError);
      odd.dispose();
    }
    assert.equal(makeAutoencoder(ae), ae);
    wrongChannels.dispose();
    ae.dispose();
  });
}

const shape = { imageChannels: 1, downsample: 2, channels: [4, 8], groups: 2, blocksPerLevel: 1 };
autoencoderSuite('identity', { kind: 'identity', imageChannels: 3 }, { latentChannels: 3, downsample: 1 });
autoencoderSuite('vae f=2', { kind: 'vae', ...shape, latentChannels: 3 }, { latentChannels: 3, downsample: 2 });
autoencoderSuite('vae f=4', { kind: 'vae', ...shape, downsample: 4, channels: [4, 8, 8], latentChannels: 2 }, { latentChannels: 2, downsample: 4 });
autoencoderSuite('vq f=2', { kind: 'vq', ...shape, codebookSize: 8, codeDim: 2 }, { latentChannels: 2, downsample: 2 });

test('identity: encode and decode are exact copies, the loss is zero, and it has no parameters', () => {
  const ae = makeAutoencoder({ kind: 'identity', imageChannels: 1 });
  assert.ok(ae instanceof IdentityAutoencoder);
  assert.equal(ae.numParameters(), 0);
  const x = images(new Rng(10), [2, 5, 3, 1]);
  const z = ae.encode(x);
  const y = ae.decode(z);
  assert.ok(same(x, z) && same(x, y));
  z.dispose(); // the caller owns the result: the input survives
  assert.ok(!x.isDisposed);
  const { total, breakdown } = ae.loss(x);
  assert.equal(total.dataSync()[0], 0);
  tf.dispose([x, y, total, ...Object.values(breakdown)]);
});

test('autoencoder configs: partials merge into the kind default; bad kinds, fields and sizes name field and value', () => {
  assert.deepEqual(resolveAutoencoderConfig({ kind: 'vae', latentChannels: 8 }), { ...DEFAULT_VAE, latentChannels: 8 });
  const fails = (input: unknown, field: string, value?: unknown) =>
    assert.throws(() => makeAutoencoder(input as AutoencoderConfigInput, { field: 'model.autoencoder' }),
      (e: unknown) => e instanceof ConfigError && e.field === field && (value === undefined || e.value === value), field);
  fails({ kind: 'gan' }, 'model.autoencoder.kind', 'gan');
  fails({ kind: 'vae', downsample: 3 }, 'model.autoencoder.downsample', 3);
  fails({ kind: 'vae', downsample: 8, channels: [8, 8] }, 'model.autoencoder.channels');
  fails({ kind: 'vq', channels: [8, 12, 16], groups: 8 }, 'model.autoencoder.channels.1', 12);
  fails({ kind: 'vq', codebookSize: 0 }, 'model.autoencoder.codebookSize', 0);
  fails({ kind: 'vae', klweight: 1 }, 'model.autoencoder.klweight');
  fails({ kind: 'vae', scalingFactor: 0 }, 'model.autoencoder.scalingFactor', 0);
  const linear = new Linear(2, 2);
  assert.throws(() => makeAutoencoder(linear as unknown as Autoencoder), ConfigError);
  linear.dispose();
});
