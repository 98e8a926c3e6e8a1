/**
 * The exported PyTorch project computes what the lab computes: on the same batch, noise and times, its loss
 * terms, LM logits and diffusion prediction match the lab's within 1e-4 relative (max |diff| / max |lab|), for
 * both presets and every block kind. Skipped, saying why, where /usr/bin/python3 has no torch.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { initEngine } from '../../src/engine/engine';
import { Rng } from '../../src/engine/random';
import type { DeepPartial } from '../../src/config';
import type { PresetName, TransfusionConfig } from '../../src/model/config';
import { Transfusion } from '../../src/model/transfusion';
import { stackLatents } from '../../src/model/objective';
import { coefficients, addNoise } from '../../src/schedules/forward';
import { readSafetensors, toTensor, writeSafetensors } from '../../src/checkpoint/safetensors';
import { exportTorch } from '../../src/export/torch';
import { tempFolder } from '../checkpoint/helpers';
import { doubles, fixture, floats, ints, labBatch, python, relativeDeviation, torchMissing } from './helpers';

const TOLERANCE = 1e-4;
const missing = torchMissing();
const dir = tempFolder('torch-equivalence');

before(async () => {
  await initEngine();
});

/** Small enough that the lab and PyTorch each take well under a second; 8x8x2 keeps channel order visible. */
const SMALL: DeepPartial<TransfusionConfig> = {
  net: { transformer: { dModel: 32, nLayers: 2, nHeads: 2, ffnHidden: 48 }, latent: { channels: 2, height: 8, width: 8 }, patchSize: 2 },
};
const UNET = { kind: 'unet', channels: [8, 16], groups: 4 } as const;

interface Case {
  readonly name: string;
  readonly preset: PresetName;
  readonly overrides: DeepPartial<TransfusionConfig>;
  /** Two documents in a row, so the document mask matters. */
  readonly pack?: boolean;
}

const withSmall = (net: DeepPartial<TransfusionConfig['net']>, objective: DeepPartial<TransfusionConfig['objective']> = {}): DeepPartial<TransfusionConfig> => ({
  net: { ...SMALL.net, ...net, transformer: { ...SMALL.net!.transformer, ...net.transformer } },
  objective,
});

/** Every block kind at least once, and every schedule, prediction target and weighting. */
const CASES: readonly Case[] = [
  { name: 'preset tiny', preset: 'tiny', overrides: {} },
  { name: 'preset mnist', preset: 'mnist', overrides: {} },
  { name: 'linear patch, transfusion mask, packed documents', preset: 'mnist', overrides: withSmall({}), pack: true },
  { name: 'linear patch without timestep', preset: 'mnist', overrides: withSmall({ patch: { kind: 'linear', conditioning: 'none' } }) },
  { name: 'unet patch, scale-shift', preset: 'mnist', overrides: withSmall({ patch: UNET }) },
  { name: 'unet patch, add, skips, patch 4', preset: 'mnist', overrides: withSmall({ patchSize: 4, patch: { ...UNET, channels: [8, 8, 16], conditioning: 'add', skip: true, blocksPerLevel: 2 } }) },
  { name: 'causal mask', preset: 'mnist', overrides: withSmall({ mask: { kind: 'causal' } }), pack: true },
  { name: 'full mask', preset: 'mnist', overrides: withSmall({ mask: { kind: 'full' } }) },
  { name: 'prefix-lm mask', preset: 'mnist', overrides: withSmall({ mask: { kind: 'prefix-lm', prefixLength: 9 } }) },
  { name: 'shared image positions', preset: 'mnist', overrides: withSmall({ imagePositions: 'shared' }) },
  { name: '2-D RoPE', preset: 'mnist', overrides: withSmall({ imagePositions: '2d', transformer: { nHeads: 4 } }), pack: true },
  { name: 'learned patch positions', preset: 'mnist', overrides: withSmall({ patchPositions: 'learned' }), pack: true },
  { name: 'sine-cosine patch positions, 2-D RoPE', preset: 'mnist', overrides: withSmall({ patchPositions: 'sincos-2d', imagePositions: '2d', transformer: { nHeads: 4 } }) },
  { name: 'tied embeddings, qk-norm', preset: 'mnist', overrides: withSmall({ tieEmbeddings: true, transformer: { qkNorm: true } }) },
  { name: 'linear schedule, x0, min-snr', preset: 'mnist', overrides: withSmall({}, { schedule: { kind: 'linear' }, prediction: 'x0', weighting: { kind: 'min-snr' } }) },
  { name: 'scaled-linear, v, p2', preset: 'mnist', overrides: withSmall({}, { schedule: { kind: 'scaled-linear' }, prediction: 'v', weighting: { kind: 'p2' } }) },
  { name: 'sigmoid, epsilon, min-snr, uniform t', preset: 'mnist', overrides: withSmall({}, { schedule: { kind: 'sigmoid' }, timesteps: { kind: 'uniform' }, weighting: { kind: 'min-snr', gamma: 2 } }) },
  { name: 'flow, flow target, sd3-lognorm, logit-normal t', preset: 'mnist', overrides: withSmall({}, { schedule: { kind: 'flow' }, prediction: 'flow', timesteps: { kind: 'logit-normal' }, weighting: { kind: 'sd3-lognorm' } }) },
  { name: 'shifted cosine, v, sd3-cosmap', preset: 'mnist', overrides: withSmall({}, { schedule: { kind: 'shifted', base: { kind: 'cosine', T: 100 }, shift: 2 }, prediction: 'v', timesteps: { kind: 'uniform' }, weighting: { kind: 'sd3-cosmap' } }) },
  { name: 'zero-terminal-snr, v, epsilon-space p2', preset: 'mnist', overrides: withSmall({}, { schedule: { kind: 'zero-terminal-snr' }, prediction: 'v', weighting: { kind: 'p2', gamma: 0.5 } }) },
  { name: 'zero-terminal-snr over sigmoid, x0', preset: 'mnist', overrides: withSmall({}, { schedule: { kind: 'zero-terminal-snr', base: { kind: 'sigmoid' } }, prediction: 'x0', timesteps: { kind: 'uniform' } }) },
];

interface Lab {
  readonly total: number;
  readonly lm: number;
  readonly diffusion: number;
  readonly logits: Float32Array;
  readonly prediction: Float32Array;
}

/** Export the case, write its batch, noise and times, and return what the lab computes on them. */
function prepare(c: Case, caseDir: string): Lab {
  const model = Transfusion.create(c.preset, c.overrides, new Rng(`export/${c.name}`));
  model.eval();
  const rng = new Rng(`batch/${c.name}`);
  // Zero-initialised convolutions and biases, and unit norm weights, would hide a wrong wiring behind them.
  for (const [, v] of model.namedParameters()) v.assign(tf.tidy(() => v.add(rng.randomNormal(v.shape, 0, 0.05))));
  const batch = labBatch(model, rng, c.pack ?? false);
  const t = model.objective.sampleTimes(batch.slots, rng);
  const x0 = stackLatents(batch, model.config.net.latent);
  const noise = rng.randomNormal(x0.shape);
  exportTorch(model, caseDir);
  const B = batch.batchSize;
  const L = batch.length;
  writeSafetensors(join(caseDir, 'batch.safetensors'), {
    tokens: ints(batch.tokens, [B, L]),
    targets: ints(batch.targets, [B, L]),
    positions: ints(batch.positions, [B, L]),
    image: ints(batch.layouts.flatMap((l) => [...l.image]), [B, L]),
    document: ints(batch.layouts.flatMap((l) => [...l.document]), [B, L]),
    slots: ints(batch.slots.flatMap((s) => [s.row, s.start]), [batch.slots.length, 2]),
    x0: floats(x0),
    noise: floats(noise),
    t: doubles(t),
  });
  const loss = model.objective.lossAt(model.net, batch, t, noise);
  const rows = Int32Array.from([...batch.targets.keys()].filter((i) => batch.targets[i] >= 0));
  const [logits, prediction] = tf.tidy(() => {
    const co = coefficients(model.objective.schedule, t, 4);
    const out = model.net.forward({ ...batch, latents: addNoise(x0, noise, co.alpha, co.sigma), t: tf.tensor1d(Float32Array.from(t)) });
    return [model.net.logitsAt(out.hidden, rows), out.prediction!];
  });
  const lab: Lab = {
    total: loss.total.dataSync()[0],
    lm: loss.breakdown.lm.dataSync()[0],
    diffusion: loss.breakdown.diffusion.dataSync()[0],
    logits: logits.dataSync() as Float32Array,
    prediction: prediction.dataSync() as Float32Array,
  };
  tf.dispose([loss.total, ...Object.values(loss.breakdown), logits, prediction, x0, noise]);
  model.dispose();
  return lab;
}

test('the exported PyTorch model matches the lab: loss, LM logits and diffusion prediction, per block kind', { skip: missing ?? false }, (t) => {
  const labs = CASES.map((c, i) => {
    const caseDir = join(dir, `case-${i}`);
    mkdirSync(caseDir);
    return { c, caseDir, lab: prepare(c, caseDir) };
  });
  python([fixture('equivalence.py'), ...labs.map((l) => l.caseDir)], 300_000);
  const rows: string[] = [];
  for (const { c, caseDir, lab } of labs) {
    const { tensors } = readSafetensors(join(caseDir, 'torch.safetensors'));
    const get = (name: string) => {
      const v = toTensor(tensors[name], name);
      const data = v.dataSync() as Float32Array;
      v.dispose();
      return data;
    };
    const deviation = {
      loss: relativeDeviation(get('total'), [lab.total]),
      lm: relativeDeviation(get('lm'), [lab.lm]),
      diffusion: relativeDeviation(get('diffusion'), [lab.diffusion]),
      logits: relativeDeviation(get('logits'), lab.logits),
      prediction: relativeDeviation(get('prediction'), lab.prediction),
    };
    const worst = Math.max(...Object.values(deviation));
    rows.push(`${c.name}: largest relative deviation ${worst.toExponential(2)} (${Object.entries(deviation).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')})`);
    for (const [what, v] of Object.entries(deviation)) assert.ok(v <= TOLERANCE, `${c.name}: ${what} deviates by ${v} relative (tolerance ${TOLERANCE})`);
  }
  for (const r of rows) t.diagnostic(r);
});
