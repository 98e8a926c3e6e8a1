/**
 * exportTorch without PyTorch: the files it writes, and every weight moved into PyTorch's layout by the module
 * that owns it (square attention projections included, which a shape test would pass untransposed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { Transfusion } from '../../src/model/transfusion';
import { readSafetensors, toTensor } from '../../src/checkpoint/safetensors';
import { trainRun } from '../../src/experiments/train-run';
import { completeConfig, exportTorch, TORCH_LAYOUT, torchConversions } from '../../src/export/torch';
import { makeTrainConfig } from '../../src/train/trainer';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';

let root = '';
useTempRoot('tl-export-', (dir) => (root = dir));

function host(path: string): Record<string, tf.Tensor> {
  const { tensors } = readSafetensors(path);
  return Object.fromEntries(Object.entries(tensors).map(([n, h]) => [n, toTensor(h, n, path)]));
}

test('a run folder exports as a PyTorch project: sources, complete config, and its weights in PyTorch layout', async () => {
  const trained = await trainRun({ ...TINY_SPEC, name: 'run', root, progress: false });
  const out = join(root, 'torch');
  const result = exportTorch(join(root, 'run'), out);
  assert.deepEqual([...result.files].sort(), ['config.json', 'model.py', 'objective.py', 'safetensors_io.py', 'state.safetensors', 'train.py', 'train_config.json', 'weights.safetensors'].sort());
  for (const f of result.files) assert.ok(existsSync(join(out, f)), f);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), JSON.parse(JSON.stringify(completeConfig(trained.model))));
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'train_config.json'), 'utf8')), JSON.parse(JSON.stringify(trained.trainer.config)));

  const { metadata } = readSafetensors(join(out, 'weights.safetensors'));
  assert.equal(metadata.layout, TORCH_LAYOUT);
  const weights = host(join(out, 'weights.safetensors'));
  const lab = trained.model.net.stateDict();
  // Weights only: the optimizer moments and EMA go to state.safetensors (roundtrip.test.ts follows them).
  assert.deepEqual(Object.keys(weights).sort(), Object.keys(lab).sort());
  const same = (a: tf.Tensor, b: tf.Tensor) => assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  tf.tidy(() => {
    same(weights['transformer.layers.0.attn.wq.weight'], lab['transformer.layers.0.attn.wq.weight'].transpose());
    assert.deepEqual(weights['transformer.layers.0.ffn.w1.weight'].shape, [64, 32]);
    same(weights['transformer.layers.0.ffn.w1.weight'], lab['transformer.layers.0.ffn.w1.weight'].transpose());
    same(weights['time_embed.mlp.2.weight'], lab['time_embed.mlp.2.weight'].transpose());
    same(weights['embed.weight'], lab['embed.weight']);
    same(weights['head.weight'], lab['head.weight']);
    same(weights['patch_in.proj.bias'], lab['patch_in.proj.bias']);
  });
  tf.dispose(Object.values(weights));
  trained.dispose();
});

test('convolutions become [out, in, kh, kw]; a tied head owns no tensor; only Linear and Conv2d weights move', () => {
  const model = Transfusion.create('mnist', {
    net: { transformer: { dModel: 16, nLayers: 1, nHeads: 2, ffnHidden: 24 }, tieEmbeddings: true, patch: { kind: 'unet', channels: [8, 16], groups: 4 } },
  }, new Rng(1));
  const kinds = torchConversions(model.net);
  assert.equal(kinds.get('transformer.layers.0.attn.wo.weight'), 'linear');
  assert.equal(kinds.get('patch_in.down.levels.0.blocks.0.time_emb_proj.weight'), 'linear');
  assert.equal(kinds.get('patch_in.down.levels.0.blocks.0.time_emb_proj.bias'), 'none');
  assert.equal(kinds.get('patch_in.conv_in.weight'), 'conv');
  assert.equal(kinds.get('patch_out.up.levels.1.upsample.conv.weight'), 'conv');
  assert.equal(kinds.get('embed.weight'), 'none');
  assert.equal(kinds.get('patch_in.norm_out.weight'), 'none');
  assert.equal(kinds.has('head.weight'), false);
  assert.deepEqual([...kinds.keys()].sort(), model.namedParameters().map(([n]) => n).sort());

  const out = join(root, 'unet');
  const { conversions, files } = exportTorch(model, out);
  // A bare model has no trainer: no state, and train.py follows the lab's default TrainConfig.
  assert.equal(files.includes('state.safetensors'), false);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'train_config.json'), 'utf8')), JSON.parse(JSON.stringify(makeTrainConfig())));
  assert.deepEqual(conversions, {
    linear: [...kinds.values()].filter((k) => k === 'linear').length,
    conv: [...kinds.values()].filter((k) => k === 'conv').length,
    none: [...kinds.values()].filter((k) => k === 'none').length,
  });
  const weights = host(join(out, 'weights.safetensors'));
  assert.equal('head.weight' in weights, false);
  const lab = model.net.stateDict()['patch_in.conv_in.weight'];
  assert.deepEqual(lab.shape, [3, 3, 1, 8]);
  assert.deepEqual(weights['patch_in.conv_in.weight'].shape, [8, 1, 3, 3]);
  const [w, l] = [weights['patch_in.conv_in.weight'].arraySync() as number[][][][], lab.arraySync() as number[][][][]];
  assert.equal(w[5][0][2][1], l[2][1][0][5]);
  tf.dispose(Object.values(weights));
  model.dispose();
});
