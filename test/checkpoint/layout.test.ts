import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/engine';
import { Rng } from '../../src/engine/random';
import { CHECKPOINT_LAYOUT, CheckpointError, restore, saveCheckpoint } from '../../src/checkpoint/checkpoint';
import { readSafetensors, writeSafetensors } from '../../src/checkpoint/safetensors';
import { Transfusion } from '../../src/model/transfusion';
import { tempFolder, values } from './helpers';

before(async () => {
  await initEngine();
});

const dir = tempFolder('layout');
const SMALL = { net: { transformer: { dModel: 16, nLayers: 1, nHeads: 2, ffnHidden: 24 } } };

function saved(name: string): { model: Transfusion; path: string } {
  const model = Transfusion.create('mnist', SMALL, new Rng(3));
  const path = join(dir, name);
  saveCheckpoint(path, { model });
  return { model, path };
}

test('a checkpoint says its weight layout, so a PyTorch reader is told Linear is [in, out] before it loads', () => {
  const { model, path } = saved('layout.safetensors');
  const { metadata, tensors } = readSafetensors(path);
  assert.equal(metadata.layout, 'tfjs: Linear weight [in, out], Conv2D [kh, kw, in, out]');
  assert.equal(metadata.layout, CHECKPOINT_LAYOUT);
  // The field is true of the file: the rectangular FFN input projection is [D, hidden].
  assert.deepEqual(tensors['transformer.layers.0.ffn.w1.weight'].shape, [16, 24]);
  model.dispose();
});

test('a checkpoint written before the layout field existed still restores, with the same weights', () => {
  const { model, path } = saved('new.safetensors');
  const old = join(dir, 'old.safetensors');
  const { tensors, metadata } = readSafetensors(path);
  delete metadata.layout;
  writeSafetensors(old, tensors, metadata);
  const restored = restore(old);
  for (const [[name, a], [, b]] of model.namedParameters().map((p, i) => [p, restored.model.namedParameters()[i]] as const)) {
    assert.deepEqual(values(b), values(a), name);
  }
  restored.model.dispose();
  model.dispose();
});

test('a file in another layout is refused, naming the field and the layout this build reads', () => {
  const { model, path } = saved('torch.safetensors');
  const other = join(dir, 'other.safetensors');
  const { tensors, metadata } = readSafetensors(path);
  writeSafetensors(other, tensors, { ...metadata, layout: 'torch: Linear weight [out, in]' });
  assert.throws(() => restore(other), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /__metadata__\.layout is "torch: Linear weight \[out, in\]"; this build reads 'tfjs: Linear weight \[in, out\]/);
    return true;
  });
  model.dispose();
});
