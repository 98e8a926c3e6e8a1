import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { Rng } from '../../src/engine/random';
import { layoutFromRuns } from '../../src/blocks/layout';
import { BOI, BOS, EOI, EOS, PAD } from '../../src/data/tokenizer';
import {
  Document,
  MixedBatch,
  buildBatch,
  captionPrompt,
  documentLength,
  formatRow,
  packDocuments,
  pairDocument,
} from '../../src/data/sequence';

const img = (v: number): Float32Array => new Float32Array([v, v, v]);
const a = 97;
const b = 98;
const X = -1;
const P = 4;

function row(batch: MixedBatch, r: number): { tokens: number[]; targets: number[]; positions: number[] } {
  const L = batch.length;
  const s = (x: Int32Array): number[] => Array.from(x.subarray(r * L, (r + 1) * L));
  return { tokens: s(batch.tokens), targets: s(batch.targets), positions: s(batch.positions) };
}

test('caption-first pair: exact tokens, targets, positions, layout and slot', () => {
  const pairs = [{ image: img(1), caption: 'ab' }];
  const batch = buildBatch(pairs, { length: 12, patchesPerImage: P, imageFirstProb: 0, captionDropout: 0 }, new Rng(1));
  assert.equal(batch.batchSize, 1);
  assert.equal(batch.length, 12);
  const r = row(batch, 0);
  assert.deepEqual(r.tokens, [BOS, a, b, BOI, PAD, PAD, PAD, PAD, EOI, EOS, PAD, PAD]);
  // BOS->a, a->b, b->BOI (learns to start an image); none at BOI, patches, EOS, PAD; EOI->EOS.
  assert.deepEqual(r.targets, [a, b, BOI, X, X, X, X, X, EOS, X, X, X]);
  assert.deepEqual(r.positions, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  assert.deepEqual(batch.layouts[0], layoutFromRuns([[['text', 4], ['image', 4], ['text', 2]], [['text', 2]]]));
  assert.deepEqual(batch.slots, [{ row: 0, start: 4, length: P, source: 0, imageFirst: false }]);
  assert.deepEqual(batch.captions, ['ab']);
  assert.equal(batch.images[0], pairs[0].image);
  assert.equal(formatRow(batch, 0), '<bos>ab<boi>[4 patches]<eoi><eos><pad>x2');
});

test('image-first pair: EOI predicts the caption, the slot is marked imageFirst', () => {
  const batch = buildBatch([{ image: img(1), caption: 'ab' }], { length: 10, patchesPerImage: P, imageFirstProb: 1, captionDropout: 0 }, new Rng(1));
  const r = row(batch, 0);
  assert.deepEqual(r.tokens, [BOS, BOI, PAD, PAD, PAD, PAD, EOI, a, b, EOS]);
  assert.deepEqual(r.targets, [BOI, X, X, X, X, X, a, b, EOS, X]);
  assert.deepEqual(r.positions, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(batch.layouts[0], layoutFromRuns([[['text', 2], ['image', 4], ['text', 4]]]));
  assert.deepEqual(batch.slots, [{ row: 0, start: 2, length: P, source: 0, imageFirst: true }]);
  assert.deepEqual(batch.captions, ['ab']);
});

test('caption dropout leaves the image alone, with caption "" and no noise limiting', () => {
  const batch = buildBatch([{ image: img(1), caption: 'ab' }], { length: 8, patchesPerImage: P, imageFirstProb: 1, captionDropout: 1 }, new Rng(1));
  const r = row(batch, 0);
  assert.deepEqual(r.tokens, [BOS, BOI, PAD, PAD, PAD, PAD, EOI, EOS]);
  assert.deepEqual(r.targets, [BOI, X, X, X, X, X, EOS, X]);
  assert.deepEqual(batch.slots, [{ row: 0, start: 2, length: P, source: 0, imageFirst: false }]);
  assert.deepEqual(batch.captions, ['']);
});

test('order and dropout frequencies follow imageFirstProb and captionDropout', () => {
  const r = new Rng(3);
  const n = 4000;
  let dropped = 0;
  let imageFirst = 0;
  for (let i = 0; i < n; i++) {
    const doc = pairDocument(0, 'x', { imageFirstProb: 0.2, captionDropout: 0.1 }, r);
    if (doc.length === 1) dropped++;
    else if (doc[0].kind === 'image') imageFirst++;
  }
  // Binomial standard deviations: sqrt(n p (1-p)) = 19 for dropout, ~24 for image-first among the kept.
  assert.ok(Math.abs(dropped - 400) < 100, `dropped ${dropped}`);
  assert.ok(Math.abs(imageFirst - 0.9 * n * 0.2) < 120, `image-first ${imageFirst}`);
});

test('packing: documents fill rows in order, a document that does not fit opens the next row', () => {
  const images = [img(0), img(1), img(2)];
  const docs: Document[] = [
    [{ kind: 'text', text: 'ab' }, { kind: 'image', index: 0, caption: 'ab' }],
    [{ kind: 'image', index: 1, caption: 'ab', imageFirst: true }, { kind: 'text', text: 'ab' }],
    [{ kind: 'image', index: 2 }],
  ];
  assert.deepEqual(docs.map((d) => documentLength(d, P)), [10, 10, 8]);
  const batch = packDocuments(docs, images, { length: 20, patchesPerImage: P, pack: true });
  assert.equal(batch.batchSize, 2);
  const r0 = row(batch, 0);
  assert.deepEqual(r0.tokens, [BOS, a, b, BOI, PAD, PAD, PAD, PAD, EOI, EOS, BOS, BOI, PAD, PAD, PAD, PAD, EOI, a, b, EOS]);
  // The first document's EOS does not predict the second document's BOS.
  assert.deepEqual(r0.targets, [a, b, BOI, X, X, X, X, X, EOS, X, BOI, X, X, X, X, X, a, b, EOS, X]);
  assert.deepEqual(r0.positions, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(batch.layouts[0], layoutFromRuns([[['text', 4], ['image', 4], ['text', 2]], [['text', 2], ['image', 4], ['text', 4]]]));
  const r1 = row(batch, 1);
  assert.deepEqual(r1.tokens, [BOS, BOI, PAD, PAD, PAD, PAD, EOI, EOS, ...Array(12).fill(PAD)]);
  assert.deepEqual(r1.positions, [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(batch.layouts[1], layoutFromRuns([[['text', 2], ['image', 4], ['text', 2]], [['text', 12]]]));
  assert.deepEqual(batch.slots, [
    { row: 0, start: 4, length: P, source: 0, imageFirst: false },
    { row: 0, start: 12, length: P, source: 1, imageFirst: true },
    { row: 1, start: 2, length: P, source: 2, imageFirst: false },
  ]);
  assert.deepEqual(batch.captions, ['ab', 'ab', '']);
  assert.deepEqual(batch.images, images);

  const unpacked = packDocuments(docs, images, { length: 20, patchesPerImage: P, pack: false });
  assert.equal(unpacked.batchSize, 3);
  assert.deepEqual(unpacked.slots.map((s) => [s.row, s.start]), [[0, 4], [1, 2], [2, 2]]);
});

test('promptLoss false: no LM loss on text an image follows, except the token that predicts BOI; captions keep theirs', () => {
  const base = { length: 12, patchesPerImage: P, captionDropout: 0, promptLoss: false };
  const first = row(buildBatch([{ image: img(1), caption: 'ab' }], { ...base, imageFirstProb: 0 }, new Rng(1)), 0);
  assert.deepEqual(first.tokens, [BOS, a, b, BOI, PAD, PAD, PAD, PAD, EOI, EOS, PAD, PAD]);
  // BOS->a and a->b are the prompt's own tokens: dropped; b->BOI (start an image) and EOI->EOS stay.
  assert.deepEqual(first.targets, [X, X, BOI, X, X, X, X, X, EOS, X, X, X]);
  const after = row(buildBatch([{ image: img(1), caption: 'ab' }], { ...base, length: 10, imageFirstProb: 1 }, new Rng(1)), 0);
  assert.deepEqual(after.targets, [BOI, X, X, X, X, X, a, b, EOS, X]);
  // Text between two images is a prompt of the second; the text after the last image is not.
  const docs: Document[] = [[{ kind: 'text', text: 'a' }, { kind: 'image', index: 0 }, { kind: 'text', text: 'b' }, { kind: 'image', index: 0 }, { kind: 'text', text: 'a' }]];
  const mixed = row(packDocuments(docs, [img(0)], { length: 3 + 2 * (P + 2) + 3, patchesPerImage: P, pack: false, promptLoss: false }), 0);
  assert.deepEqual(mixed.tokens, [BOS, a, BOI, PAD, PAD, PAD, PAD, EOI, b, BOI, PAD, PAD, PAD, PAD, EOI, a, EOS, PAD]);
  assert.deepEqual(mixed.targets, [X, BOI, X, X, X, X, X, X, BOI, X, X, X, X, X, a, EOS, X, X]);
  assert.throws(() => buildBatch([{ image: img(1), caption: 'ab' }], { ...base, promptLoss: 'no' as unknown as boolean }), /sequence\.promptLoss/);
});

test('an interleaved document: EOI predicts the next text or the next BOI; images are numbered per row', () => {
  const docs: Document[] = [
    [{ kind: 'image', index: 1 }, { kind: 'image', index: 0 }, { kind: 'text', text: 'a' }],
  ];
  const batch = packDocuments(docs, [img(0), img(1)], { length: 2 + 2 * (P + 2) + 1, patchesPerImage: P, pack: true });
  const r = row(batch, 0);
  assert.deepEqual(r.tokens, [BOS, BOI, PAD, PAD, PAD, PAD, EOI, BOI, PAD, PAD, PAD, PAD, EOI, a, EOS]);
  assert.deepEqual(r.targets, [BOI, X, X, X, X, X, BOI, X, X, X, X, X, a, EOS, X]);
  assert.deepEqual(Array.from(batch.layouts[0].image), [X, X, 0, 0, 0, 0, X, X, 1, 1, 1, 1, X, X, X]);
  assert.deepEqual(batch.slots.map((s) => s.source), [1, 0]);
});

test('a document longer than L fails naming its length and L; bad parts and configs fail by field', () => {
  const long = [{ image: img(0), caption: 'x'.repeat(30) }];
  assert.throws(
    () => buildBatch(long, { length: 20, patchesPerImage: P, imageFirstProb: 0, captionDropout: 0 }, new Rng(0)),
    (e: unknown) => e instanceof ConfigError && e.field === 'sequence.length' && e.value === 20 && /at least 38/.test(e.message) && /document 0/.test(e.message),
  );
  assert.throws(() => packDocuments([[{ kind: 'image', index: 2 }]], [img(0)], { length: 20, patchesPerImage: P, pack: true }), /documents\[0\]\[0\]\.index/);
  assert.throws(() => packDocuments([], [], { length: 20, patchesPerImage: P, pack: true }), ConfigError);
  assert.throws(() => buildBatch(long, { imageFirstProb: 1.5 }), (e: unknown) => e instanceof ConfigError && e.field === 'sequence.imageFirstProb');
  assert.throws(() => buildBatch(long, { lenght: 20 } as never), (e: unknown) => e instanceof ConfigError && e.field === 'sequence.lenght');
  assert.throws(() => buildBatch(long, { length: 10, patchesPerImage: 8 }), (e: unknown) => e instanceof ConfigError && e.field === 'sequence.length');
});

test('the same Rng gives the same batch; defaults match the tiny benchmark (129 positions, 64 patches)', () => {
  const pairs = Array.from({ length: 20 }, (_, i) => ({ image: img(i), caption: `caption ${i}` }));
  const make = (seed: number): MixedBatch => buildBatch(pairs, {}, new Rng(seed));
  const x = make(7);
  assert.deepEqual(x, make(7));
  assert.notDeepEqual(x.tokens, make(8).tokens);
  assert.equal(x.length, 129);
  assert.equal(x.batchSize, 20);
  assert.ok(x.slots.every((s) => s.length === 64));
});

test('captionPrompt is BOS, the caption bytes and BOI', () => {
  assert.deepEqual(captionPrompt('ab'), [BOS, a, b, BOI]);
});
