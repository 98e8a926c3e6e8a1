import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { padImage, patchesPerImage, resizeArea } from '../../src/data/image';

test('patchesPerImage is (H/f/k) * (W/f/k) and rejects sides f*k does not divide', () => {
  assert.equal(patchesPerImage(32, 32, 2, 2), 64);
  assert.equal(patchesPerImage(256, 128, 8, 2), 16 * 8);
  assert.throws(() => patchesPerImage(30, 32, 2, 2), (e: unknown) => e instanceof ConfigError && e.field === 'image.height' && /multiple of downsample \* patchSize = 4/.test(e.message));
  assert.throws(() => patchesPerImage(32, 30, 8, 1), (e: unknown) => e instanceof ConfigError && e.field === 'image.width');
});

test('area resize: exact 2x2 means, overlap weights for 3 -> 2, constant images stay constant', () => {
  // [2, 2, 2] HWC: channel 0 = 1..4, channel 1 = 10..40.
  const img = new Float32Array([1, 10, 2, 20, 3, 30, 4, 40]);
  assert.deepEqual(Array.from(resizeArea(img, 2, 2, 2, 1, 1)), [2.5, 25]);
  // 1 x 3 -> 1 x 2: each output covers 1.5 inputs: (a + b/2) / 1.5 and (b/2 + c) / 1.5.
  const row = resizeArea(new Float32Array([3, 6, 9]), 1, 3, 1, 1, 2);
  assert.ok(Math.abs(row[0] - 4) < 1e-6 && Math.abs(row[1] - 8) < 1e-6, String(row));
  const flat = resizeArea(new Float32Array(7 * 5).fill(0.25), 7, 5, 1, 3, 4);
  assert.ok(flat.every((v) => Math.abs(v - 0.25) < 1e-6));
  // Upsampling 1 -> 2 repeats the pixel.
  assert.deepEqual(Array.from(resizeArea(new Float32Array([5]), 1, 1, 1, 2, 2)), [5, 5, 5, 5]);
});

test('padImage surrounds the image with the fill value', () => {
  const out = padImage(new Float32Array([1, 2, 3, 4]), 2, 2, 1, 1, -1);
  assert.deepEqual(Array.from(out), [-1, -1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1, -1, -1, -1]);
});
