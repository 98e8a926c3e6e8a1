import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { gaussianKl, VAE } from '../../src/blocks/vae';
import { DEFAULT_VAE, makeAutoencoder, VAEConfig } from '../../src/blocks/autoencoder';
import { stripes } from '../helpers/images';
import { assertLossFalls } from '../helpers/training';

const tiny: VAEConfig = { ...DEFAULT_VAE, imageChannels: 1, downsample: 2, channels: [4, 8], groups: 2, latentChannels: 2, klWeight: 1e-3 };

test('gaussianKl matches 0.5 (m^2 + e^lv - 1 - lv) summed per example', () => {
  const mean = tf.tensor2d([[0, 1], [-2, 0.5]]);
  const logvar = tf.tensor2d([[0, 0], [Math.log(0.25), 1]]);
  const kl = gaussianKl(mean, logvar).arraySync() as number[];
  const term = (m: number, lv: number) => 0.5 * (m * m + Math.exp(lv) - 1 - lv);
  const want = [term(0, 0) + term(1, 0), term(-2, Math.log(0.25)) + term(0.5, 1)];
  kl.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `${v} vs ${want[i]}`));
  tf.dispose([mean, logvar]);
});

test('VAE loss: total = recon + klWeight * kl, with kl per pixel value and recon the MSE of a sample', () => {
  const vae = new VAE(tiny, { rng: new Rng(1) });
  const x = stripes(2, 8);
  const { total, breakdown } = vae.loss(x, new Rng(2));
  const [t, recon, kl] = [total, breakdown.recon, breakdown.kl].map((s) => s.dataSync()[0]);
  assert.ok(Math.abs(t - (recon + tiny.klWeight * kl)) < 1e-6);
  // The KL oracle from the posterior itself: per-image sum, batch mean, divided by the 64 pixel values per image.
  const { mean, logvar } = vae.posterior(x);
  const want = tf.tidy(() => gaussianKl(mean, logvar).mean().div(64).dataSync()[0]);
  assert.ok(Math.abs(kl - want) < 1e-6 * Math.max(1, want));
  // The same rng stream gives the same sample, so the same loss.
  const again = vae.loss(x, new Rng(2));
  assert.equal(again.total.dataSync()[0], t);
  tf.dispose([x, total, mean, logvar, again.total, ...Object.values(breakdown), ...Object.values(again.breakdown)]);
  vae.dispose();
});

test('VAE encode: the mean by default, a reproducible sample with an rng, both times scalingFactor', () => {
  const vae = new VAE({ ...tiny, scalingFactor: 0.5 }, { rng: new Rng(3) });
  tf.tidy(() => vae.encoder.convOut.bias!.assign(tf.tensor1d([0, 0, -1, -1]))); // std exp(-0.5): a visible spread
  const x = stripes(2, 8);
  const { mean, logvar } = vae.posterior(x);
  const z = vae.encode(x);
  z.dataSync().forEach((v, i) => assert.ok(Math.abs(v - 0.5 * mean.dataSync()[i]) < 1e-6));
  const [s1, s2] = [vae.encode(x, { sample: true, rng: new Rng(4) }), vae.encode(x, { sample: true, rng: new Rng(4) })];
  assert.deepEqual(Array.from(s1.dataSync()), Array.from(s2.dataSync()));
  // (sample / scale - mean) / std is the standard normal draw: check its spread.
  const eps = tf.tidy(() => s1.div(0.5).sub(mean).div(logvar.mul(0.5).exp()));
  const { variance } = tf.moments(eps);
  assert.ok(Math.abs(variance.dataSync()[0] - 1) < 0.5, `eps variance ${variance.dataSync()[0]}`);
  // decode undoes the scaling before the decoder: decode(z) = decoder(mean).
  const y = vae.decode(z);
  const want = vae.decoder.forward(mean);
  y.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want.dataSync()[i]) < 1e-5));
  tf.dispose([x, mean, logvar, z, s1, s2, eps, variance, y, want]);
  vae.dispose();
});

test('fitScalingFactor gives unit-std latents, and the reported config rebuilds the same encoder', () => {
  const vae = new VAE(tiny, { rng: new Rng(5) });
  const x = stripes(4, 8);
  const s = vae.fitScalingFactor(x);
  assert.equal(vae.config.scalingFactor, s);
  const z = vae.encode(x);
  const { variance } = tf.moments(z);
  assert.ok(Math.abs(Math.sqrt(variance.dataSync()[0]) - 1) < 1e-4);
  const rebuilt = makeAutoencoder(JSON.parse(JSON.stringify(vae.config)), { rng: new Rng(6) });
  rebuilt.loadStateDict(vae.stateDict());
  const z2 = rebuilt.encode(x);
  assert.deepEqual(Array.from(z2.dataSync()), Array.from(z.dataSync()));
  tf.dispose([x, z, variance, z2]);
  vae.dispose();
  rebuilt.dispose();
});

test('VAE loss falls over 30 Adam steps on a tiny batch, without leaking tensors', () => {
  const vae = new VAE(tiny, { rng: new Rng(7) });
  const x = stripes(4, 8);
  const opt = tf.train.adam(1e-2);
  const r = new Rng(8);
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  for (let step = 0; step < 30; step++) {
    const cost = opt.minimize(() => tf.tidy(() => vae.loss(x, r).total), true, vae.trainableParameters());
    losses.push(cost!.dataSync()[0]);
    cost!.dispose();
    if (step === 0) assert.ok(tf.memory().numTensors > before); // Adam's moment slots, created once
  }
  const afterFirst = tf.memory().numTensors;
  const cost = opt.minimize(() => tf.tidy(() => vae.loss(x, r).total), true, vae.trainableParameters());
  cost!.dispose();
  assert.equal(tf.memory().numTensors, afterFirst, 'a training step leaks');
  assertLossFalls(losses, 0.6);
  opt.dispose();
  x.dispose();
  vae.dispose();
});
