/**
 * A patch encoder/decoder kind defined at run time (issue 14): a model config names it, the model is built with
 * it, and FLOP accounting (src/baseline/flops.ts) charges what the kind says it costs, not a guess by kind name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, defineKind, initEngine, LinearPatchDecoder, LinearPatchEncoder, resolveConfig, Transfusion, transfusionFlops, Rng, type PatchConfig } from '../../src';

/** The linear pair under another name, with a cost of its own that the test can recognise. */
defineKind('patch', 'probe-linear', {
  defaults: { costPerImage: 1234 },
  validate: (c: { costPerImage: number }, field: string) => {
    check.nonNegative(`${field}.costPerImage`, c.costPerImage);
  },
  encoder: (_, geometry, options) => new LinearPatchEncoder({ kind: 'linear', conditioning: 'add' }, geometry, options),
  decoder: (_, geometry, options) => new LinearPatchDecoder({ kind: 'linear', conditioning: 'add' }, geometry, options),
  flops: (c: { costPerImage: number }) => c.costPerImage,
});

test('a patch kind defined at run time builds the model and states its own FLOPs', async () => {
  await initEngine();
  const config = resolveConfig('tiny', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 }, patch: { kind: 'probe-linear' } as unknown as PatchConfig } });
  assert.deepEqual(config.net.patch, { kind: 'probe-linear', costPerImage: 1234 });
  const model = new Transfusion(config, new Rng('patch-kind'));
  try {
    assert.ok(model.numParameters() > 0);
    const flops = transfusionFlops(config, { batchSize: 2, length: 96, images: 3 });
    assert.equal(flops.breakdown.patch, 3 * 1234);
    const linear = transfusionFlops(resolveConfig('tiny', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } }), { batchSize: 2, length: 96, images: 3 });
    assert.equal(flops.breakdown.transformer, linear.breakdown.transformer, 'only the patch term depends on the patch kind');
  } finally {
    model.dispose();
  }
});

test("an undefined patch kind's error names what a patch definition gives, not another family's members", () => {
  assert.throws(
    () => resolveConfig('tiny', { net: { patch: { kind: 'conv-stem' } as unknown as PatchConfig } }),
    /net\.patch\.kind: got "conv-stem"; allowed: 'linear', 'unet'.*defineKind\('patch', "conv-stem", \{ defaults, validate, encoder, decoder, flops \}\)/,
  );
});
