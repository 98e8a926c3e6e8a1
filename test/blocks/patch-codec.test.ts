import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ConfigError, ShapeError } from '../../src/config';
import { Module } from '../../src/blocks/module';
import { patchify, unpatchify } from '../../src/blocks/patchify';
import {
  DEFAULT_UNET_PATCH,
  LinearPatchDecoder,
  LinearPatchEncoder,
  makePatchDecoder,
  makePatchEncoder,
  PatchConfigInput,
  PatchGeometry,
  resolvePatchConfig,
} from '../../src/blocks/patch';

const B = 2;
const H = 8;
const W = 8;

function randomize(m: Module, r: Rng): void {
  for (const [, v] of m.namedParameters()) tf.tidy(() => v.assign(r.randomNormal(v.shape, 0, 0.3)));
}

function names(m: Module): [string, number[]][] {
  return m.namedParameters().map(([n, v]) => [n, v.shape]);
}

function same(a: tf.Tensor, b: tf.Tensor): boolean {
  const [x, y] = [a.dataSync(), b.dataSync()];
  return a.shape.join() === b.shape.join() && x.every((v, i) => v === y[i]);
}

/**
 * The interface suite every patch encoder/decoder pair passes unmodified
 * (docs/ARCHITECTURE.md, 'Interface suites'). `config` goes through the public factories only, so a new kind joins
 * by adding one line to CASES.
 */
function patchPairSuite(label: string, config: PatchConfigInput, geometry: PatchGeometry): void {
  const { latentChannels: C, patchSize: k, dModel: D } = geometry;
  const N = (H / k) * (W / k);
  const shape = { H, W, C };

  test(`${label}: encode -> [B, N, D] tokens, decode -> [B, H, W, C], skips as documented, no leaks`, () => {
    const r = new Rng(1);
    const enc = makePatchEncoder(config, geometry, { rng: r });
    const dec = makePatchDecoder(enc.config, geometry, { rng: r });
    const latent = r.randomNormal([B, H, W, C]);
    const temb = r.randomNormal([B, D]);
    const before = tf.memory().numTensors;
    const { tokens, skips } = enc.encode(latent, temb);
    assert.deepEqual(tokens.shape, [B, N, D]);
    const levels = Math.log2(k);
    const wantSkips = enc.config.kind === 'unet' && enc.config.skip ? levels + 1 : 0;
    assert.equal(skips.length, wantSkips);
    skips.forEach((s, i) => assert.deepEqual(s.shape.slice(0, 3), [B, H / 2 ** i, W / 2 ** i]));
    const out = dec.decode(tokens, temb, skips, shape);
    assert.deepEqual(out.shape, [B, H, W, C]);
    assert.ok(out.dataSync().every(Number.isFinite));
    tf.dispose([tokens, ...skips, out]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([latent, temb]);
    enc.dispose();
    dec.dispose();
  });

  test(`${label}: every parameter gets a gradient through encode -> decode, and the step leaks nothing`, () => {
    const r = new Rng(2);
    const enc = makePatchEncoder(config, geometry, { rng: r });
    const dec = makePatchDecoder(enc.config, geometry, { rng: r });
    // Random weights everywhere: zero-initialised layers would hide the parameters behind them at step 0.
    randomize(enc, r);
    randomize(dec, r);
    const latent = r.randomNormal([B, H, W, C]);
    const temb = r.randomNormal([B, D]);
    const target = r.randomNormal([B, H, W, C]);
    const vars = [...enc.trainableParameters(), ...dec.trainableParameters()];
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
      const { tokens, skips } = enc.encode(latent, temb);
      return dec.decode(tokens, temb, skips, shape).sub(target).square().mean() as tf.Scalar;
    }), vars);
    const named = new Map([...enc.namedParameters().map(([n, v]) => [`enc.${n}`, v] as const), ...dec.namedParameters().map(([n, v]) => [`dec.${n}`, v] as const)]);
    for (const [n, v] of named) {
      const g = grads[v.name];
      assert.ok(g && g.dataSync().some((x) => x !== 0), `${n} has no gradient`);
    }
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([latent, temb, target]);
    enc.dispose();
    dec.dispose();
  });

  test(`${label}: the config survives JSON and rebuilds the same parameter names and shapes`, () => {
    const enc = makePatchEncoder(config, geometry, { rng: new Rng(3) });
    const dec = makePatchDecoder(config, geometry, { rng: new Rng(3) });
    const json = JSON.parse(JSON.stringify({ encoder: enc.config, decoder: dec.config }));
    const enc2 = makePatchEncoder(json.encoder, geometry, { rng: new Rng(4) });
    const dec2 = makePatchDecoder(json.decoder, geometry, { rng: new Rng(4) });
    assert.deepEqual(enc2.config, enc.config);
    assert.deepEqual(names(enc2), names(enc));
    assert.deepEqual(names(dec2), names(dec));
    assert.ok(names(enc).length > 0 && names(dec).length > 0);
    [enc, dec, enc2, dec2].forEach((m) => m.dispose());
  });

  test(`${label}: a state dict loaded into a model built from another seed gives bit-identical outputs`, () => {
    const r = new Rng(5);
    const enc = makePatchEncoder(config, geometry, { rng: r });
    const dec = makePatchDecoder(config, geometry, { rng: r });
    randomize(enc, r);
    randomize(dec, r);
    const enc2 = makePatchEncoder(config, geometry, { rng: new Rng(6) });
    const dec2 = makePatchDecoder(config, geometry, { rng: new Rng(6) });
    const latent = r.randomNormal([B, H, W, C]);
    const temb = r.randomNormal([B, D]);
    const run = (e: typeof enc, d: typeof dec) => tf.tidy(() => {
      const { tokens, skips } = e.encode(latent, temb);
      return [tokens, d.decode(tokens, temb, skips, shape)];
    });
    const [t1, o1] = run(enc, dec);
    const [t0, o0] = run(enc2, dec2);
    assert.ok(!same(t0, t1) && !same(o0, o1), 'different seeds should differ before loading');
    enc2.loadStateDict(enc.stateDict());
    dec2.loadStateDict(dec.stateDict());
    const [t2, o2] = run(enc2, dec2);
    assert.ok(same(t1, t2), 'tokens differ after loading the state dict');
    assert.ok(same(o1, o2), 'decoded latents differ after loading the state dict');
    tf.dispose([latent, temb, t0, o0, t1, o1, t2, o2]);
    [enc, dec, enc2, dec2].forEach((m) => m.dispose());
  });

  test(`${label}: bad configs, shapes and mismatched instances fail naming the field and the value`, () => {
    const enc = makePatchEncoder(config, geometry);
    const dec = makePatchDecoder(config, geometry);
    const temb = tf.zeros([B, D]);
    // A latent side the patch size does not divide.
    if (k > 1) {
      const bad = tf.zeros([B, H + k / 2, W, C]);
      assert.throws(() => enc.encode(bad, temb), (e: unknown) => e instanceof ConfigError && e.field === 'patch.patchSize' && e.value === k);
      bad.dispose();
      assert.throws(() => dec.decode(tf.zeros([B, N, D]), temb, [], { H: H + k / 2, W, C }), (e: unknown) => e instanceof ConfigError && e.value === k);
    }
    assert.throws(() => makePatchEncoder(config, { ...geometry, patchSize: 3 }), (e: unknown) => e instanceof ConfigError && e.field === 'patch.patchSize' && e.value === 3);
    assert.throws(() => makePatchEncoder({ ...config, kind: 'conv' } as unknown as PatchConfigInput, geometry), (e: unknown) => e instanceof ConfigError && e.field === 'patch.kind' && /'linear', 'unet'/.test(e.message));
    assert.throws(() => makePatchDecoder({ ...config, colour: 1 } as unknown as PatchConfigInput, geometry), (e: unknown) => e instanceof ConfigError && e.field === 'patch.colour');
    const wrongC = tf.zeros([B, H, W, C + 1]);
    assert.throws(() => enc.encode(wrongC, temb), ShapeError);
    wrongC.dispose();
    const tokens = tf.zeros([B, N + 1, D]);
    assert.throws(() => dec.decode(tokens, temb, [], shape), ShapeError);
    tokens.dispose();
    // A built module passes through unchanged when its geometry matches, and is refused when it does not.
    assert.equal(makePatchEncoder(enc, geometry), enc);
    assert.equal(makePatchDecoder(dec, geometry), dec);
    assert.throws(() => makePatchEncoder(enc, { ...geometry, dModel: D + 1 }), (e: unknown) => e instanceof ConfigError && e.field === 'patch');
    temb.dispose();
    enc.dispose();
    dec.dispose();
  });
}

const small = { channels: [4, 8, 8], groups: 2, blocksPerLevel: 1 };
const CASES: [string, PatchConfigInput, PatchGeometry][] = [
  ['linear k=1', { kind: 'linear' }, { latentChannels: 3, patchSize: 1, dModel: 8 }],
  ['linear k=2 no timestep', { kind: 'linear', conditioning: 'none' }, { latentChannels: 2, patchSize: 2, dModel: 8 }],
  ['unet k=2 add', { kind: 'unet', ...small, conditioning: 'add' }, { latentChannels: 2, patchSize: 2, dModel: 8 }],
  ['unet k=4 scale-shift skips', { kind: 'unet', ...small, conditioning: 'scale-shift', skip: true }, { latentChannels: 3, patchSize: 4, dModel: 8 }],
  ['unet k=1 none skips', { kind: 'unet', ...small, conditioning: 'none', skip: true }, { latentChannels: 1, patchSize: 1, dModel: 6 }],
];
for (const [label, config, geometry] of CASES) patchPairSuite(label, config, geometry);

test('linear pair: tokens = patchify(latent) W + b + temb (paper §3.2), output = unpatchify(tokens W + b)', () => {
  const r = new Rng(7);
  const geometry = { latentChannels: 2, patchSize: 2, dModel: 5 };
  const enc = makePatchEncoder({ kind: 'linear' }, geometry, { rng: r });
  const dec = makePatchDecoder({ kind: 'linear' }, geometry, { rng: r });
  assert.ok(enc instanceof LinearPatchEncoder);
  assert.ok(dec instanceof LinearPatchDecoder);
  assert.deepEqual(names(enc), [['proj.weight', [8, 5]], ['proj.bias', [5]]]);
  randomize(enc, r);
  randomize(dec, r);
  const latent = r.randomNormal([2, 4, 6, 2]);
  const temb = r.randomNormal([2, 5]);
  const { tokens } = enc.encode(latent, temb);
  const want = tf.tidy(() => tf.matMul(patchify(latent, 2).reshape([-1, 8]), enc.proj.weight).add(enc.proj.bias!).reshape([2, 6, 5]).add(temb.expandDims(1)));
  tokens.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want.dataSync()[i]) < 1e-5));
  const out = dec.decode(tokens, temb, [], { H: 4, W: 6, C: 2 });
  const wantOut = tf.tidy(() => unpatchify(tf.matMul(tokens.reshape([-1, 5]), dec.proj.weight).add(dec.proj.bias!).reshape([2, 6, 8]), 2, 4, 6, 2));
  out.dataSync().forEach((v, i) => assert.ok(Math.abs(v - wantOut.dataSync()[i]) < 1e-5));
  tf.dispose([latent, temb, tokens, want, out, wantOut]);
  enc.dispose();
  dec.dispose();
});

test('a partial config merges into its kind\'s default; a U-Net too shallow for the patch size is refused', () => {
  assert.deepEqual(resolvePatchConfig({ kind: 'unet', skip: true }), { ...DEFAULT_UNET_PATCH, skip: true });
  assert.throws(() => resolvePatchConfig({ kind: 'unet', channels: [8, 12], groups: 8 }), (e: unknown) => e instanceof ConfigError && e.field === 'patch.channels.1' && e.value === 12);
  assert.throws(() => resolvePatchConfig({ kind: 'unet', conditioning: 'film' as 'add' }), (e: unknown) => e instanceof ConfigError && e.field === 'patch.conditioning');
  assert.throws(() => resolvePatchConfig({ kind: 'linear', conditioning: 'scale-shift' as 'add' }), (e: unknown) => e instanceof ConfigError && e.field === 'patch.conditioning');
  assert.throws(
    () => makePatchEncoder({ kind: 'unet', channels: [8, 8] }, { latentChannels: 4, patchSize: 4, dModel: 8 }, { field: 'model.patch' }),
    (e: unknown) => e instanceof ConfigError && e.field === 'model.patch.channels' && /at least 3/.test(e.message),
  );
});

test('U-Net with skips: the decoder refuses a missing skip list', () => {
  const geometry = { latentChannels: 2, patchSize: 2, dModel: 4 };
  const config: PatchConfigInput = { kind: 'unet', channels: [4, 4], groups: 2, skip: true };
  const enc = makePatchEncoder(config, geometry);
  const dec = makePatchDecoder(config, geometry);
  const latent = tf.zeros([1, 4, 4, 2]);
  const temb = tf.zeros([1, 4]);
  const { tokens, skips } = enc.encode(latent, temb);
  assert.throws(() => dec.decode(tokens, temb, [], { H: 4, W: 4, C: 2 }), ShapeError);
  tf.dispose([latent, temb, tokens, ...skips]);
  enc.dispose();
  dec.dispose();
});
