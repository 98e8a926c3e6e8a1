/**
 * The autoencoders are a kind family like the others (src/blocks/autoencoder-config.ts, issue 14): the built-in
 * kinds are listed by describeKinds, a kind defined at run time is completed from its defaults, checked and built
 * by makeAutoencoder, and an undefined kind fails naming the field, the kinds and how to define one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, defineKind, describeKinds, IdentityAutoencoder, initEngine, makeAutoencoder, resolveAutoencoderConfig, type AutoencoderConfigInput } from '../../src';

/** Pixel space under another name, with a field of its own that the checks can refuse. */
defineKind('autoencoder', 'probe-pixels', {
  defaults: { imageChannels: 1 },
  validate: (c: { imageChannels: number }, field: string) => void check.positiveInt(`${field}.imageChannels`, c.imageChannels),
  build: (c: { imageChannels: number }, options) => new IdentityAutoencoder({ kind: 'identity', imageChannels: c.imageChannels }, options),
});

test('the built-in autoencoders are kinds, and one defined at run time is resolved, checked and built like them', async () => {
  await initEngine();
  assert.deepEqual(describeKinds().autoencoder.map((k) => [k.kind, k.builtIn]), [['identity', true], ['vae', true], ['vq', true], ['probe-pixels', false]]);
  const spec = { kind: 'probe-pixels' } as unknown as AutoencoderConfigInput;
  assert.deepEqual(resolveAutoencoderConfig(spec), { kind: 'probe-pixels', imageChannels: 1 });
  const ae = makeAutoencoder(spec);
  assert.equal(ae.latentChannels, 1);
  assert.throws(() => makeAutoencoder({ kind: 'probe-pixels', imageChannels: 0 } as unknown as AutoencoderConfigInput, { field: 'tokenizer' }), /tokenizer\.imageChannels: got 0; allowed: a positive integer/);
  assert.throws(() => makeAutoencoder({ kind: 'vae', latentChanels: 4 } as unknown as AutoencoderConfigInput), /autoencoder\.latentChanels: got 4/);
  assert.throws(
    () => resolveAutoencoderConfig({ kind: 'fsq' } as unknown as AutoencoderConfigInput),
    /autoencoder\.kind: got "fsq"; allowed: 'identity', 'vae', 'vq'.*defineKind\('autoencoder', "fsq", \{ defaults, validate, build \}\)/,
  );
});
