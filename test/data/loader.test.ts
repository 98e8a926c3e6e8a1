import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { Rng } from '../../src/engine/random';
import { ImageDataset, ImageSample } from '../../src/data/image';
import { DataLoader, LoaderBatch } from '../../src/data/loader';
import { decode } from '../../src/data/tokenizer';
import { DEFAULT_SEQUENCE_CONFIG, imageFirstProbAt, isPlainEpoch, withoutCurriculum } from '../../src/data/sequence';

/** n items; item i's pixel is i and its caption draws a number from the Rng (like template captions). */
function toy(n: number): ImageDataset {
  return {
    length: n,
    height: 1,
    width: 1,
    channels: 1,
    get: (i: number, r: Rng = new Rng(0)): ImageSample => ({ image: new Float32Array([i]), height: 1, width: 1, channels: 1, caption: `item ${i} #${r.int(10)}` }),
  };
}

const sequence = { length: 24, patchesPerImage: 4, imageFirstProb: 0.2, captionDropout: 0.1, pack: false };
const all = <T>(it: Iterable<T>): T[] => [...it];
const items = (batches: LoaderBatch[]): number[] => batches.flatMap((b) => Array.from(b.items));

test('the data order is reproducible from the seed, and each epoch is a function of (seed, epoch) alone', () => {
  const ds = toy(10);
  const make = (seed: number): DataLoader => new DataLoader(ds, { batchSize: 3, sequence }, { rng: new Rng(seed) });
  const a = all(make(3).epoch(0));
  assert.deepEqual(a, all(make(3).epoch(0)));
  assert.notDeepEqual(items(a), items(all(make(4).epoch(0))));
  const fresh = make(3);
  const resumed = make(3);
  all(resumed.epoch(0));
  assert.deepEqual(all(fresh.epoch(1)), all(resumed.epoch(1)));
  assert.notDeepEqual(items(all(fresh.epoch(1))), items(a), 'a new order each epoch');
});

test('every item once per epoch; dropLast drops only the short last batch; no shuffle keeps dataset order', () => {
  const ds = toy(10);
  const kept = all(new DataLoader(ds, { batchSize: 3, dropLast: false, sequence }, { rng: new Rng(1) }).epoch(0));
  assert.deepEqual(kept.map((b) => b.batchSize), [3, 3, 3, 1]);
  assert.deepEqual([...items(kept)].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const dropped = all(new DataLoader(ds, { batchSize: 3, sequence }, { rng: new Rng(1) }).epoch(0));
  assert.deepEqual(items(dropped), items(kept).slice(0, 9));
  const ordered = all(new DataLoader(ds, { batchSize: 5, shuffle: false, sequence }, { rng: new Rng(1) }).epoch(0));
  assert.deepEqual(items(ordered), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const b of ordered) {
    b.slots.forEach((s, k) => {
      assert.equal(b.images[s.source][0], b.items[s.source], 'slot -> image -> item');
      if (b.captions[k] !== '') assert.match(b.captions[k], new RegExp(`^item ${b.items[s.source]} #`));
    });
    for (let r = 0; r < b.batchSize; r++) assert.match(decode(b.tokens.subarray(r * 24, r * 24 + 24)), /^(item \d #\d)?$/);
  }
});

test('packing: rows are filled to the batch size and a document that does not fit carries to the next batch', () => {
  const ds = toy(30);
  const packed = { ...sequence, length: 40, captionDropout: 0 };
  const batches = all(new DataLoader(ds, { batchSize: 2, dropLast: false, sequence: { ...packed, pack: true } }, { rng: new Rng(2) }).epoch(0));
  // A kept pair is 2 + 9 or 10 caption bytes + 6 image positions = 17 or 18: two per 40-position row, four per batch.
  assert.deepEqual(batches.map((b) => b.items.length), [4, 4, 4, 4, 4, 4, 4, 2]);
  assert.deepEqual(batches.map((b) => b.batchSize), [2, 2, 2, 2, 2, 2, 2, 1]);
  assert.deepEqual([...items(batches)].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i));
  // Carrying a document over keeps the epoch's order: the same items in the same order as without packing.
  const unpacked = new DataLoader(ds, { batchSize: 2, dropLast: false, sequence: packed }, { rng: new Rng(2) });
  assert.deepEqual(items(all(unpacked.epoch(0))), items(batches));
});

test('captions are redrawn each epoch; the images hook supplies cached latents', () => {
  const ds = toy(6);
  const latents = Array.from({ length: 6 }, (_, i) => new Float32Array([100 + i, -i]));
  const loader = new DataLoader(ds, { batchSize: 6, sequence: { ...sequence, captionDropout: 0 } }, { rng: new Rng(5), images: (i) => latents[i] });
  const [e0] = all(loader.epoch(0));
  const [e1] = all(loader.epoch(1));
  e0.images.forEach((img, k) => assert.equal(img, latents[e0.items[k]]));
  const byItem = (b: LoaderBatch): string[] => Array.from(b.items).map((_, k) => b.captions[b.slots.findIndex((s) => s.source === k)]);
  assert.notDeepEqual(byItem(e0).sort(), byItem(e1).sort());
});

test('batches() runs across epochs; a dataset too small for one batch and bad configs fail by field', () => {
  const loader = new DataLoader(toy(5), { batchSize: 2, sequence }, { rng: new Rng(0) });
  const it = loader.batches();
  const epochs = Array.from({ length: 5 }, () => it.next().value!.epoch);
  assert.deepEqual(epochs, [0, 0, 1, 1, 2]);
  const small = new DataLoader(toy(3), { batchSize: 4, sequence }, { rng: new Rng(0) });
  assert.throws(() => small.batches().next(), (e: unknown) => e instanceof ConfigError && e.field === 'loader.batchSize');
  assert.throws(() => new DataLoader(toy(3), { batchSize: 0 }), (e: unknown) => e instanceof ConfigError && e.field === 'loader.batchSize');
  assert.throws(() => new DataLoader(toy(3), { sequence: { captionDropout: 2 } }), (e: unknown) => e instanceof ConfigError && e.field === 'sequence.captionDropout');
  const tight = new DataLoader(toy(3), { batchSize: 1, sequence: { ...sequence, length: 12, captionDropout: 0 } }, { rng: new Rng(0) });
  assert.throws(() => all(tight.epoch(0)), (e: unknown) => e instanceof ConfigError && e.field === 'sequence.length' && /at least 17 to hold item \d \(caption "item \d #\d"\)/.test(e.message));
});

test('plainCaptionEpochs: image-first pairs read the plain caption in those epochs only; caption-first pairs and the draws are untouched', () => {
  const n = 40;
  const plainToy: ImageDataset = { ...toy(n), get: (i: number, r: Rng = new Rng(0)) => ({ ...toy(n).get(i, r), plainCaption: `plain ${i}` }) };
  const seq = { ...sequence, imageFirstProb: 0.5, captionDropout: 0.2 };
  const make = (plainCaptionEpochs: number): DataLoader => new DataLoader(plainToy, { batchSize: 4, sequence: { ...seq, plainCaptionEpochs } }, { rng: new Rng(5) });
  // Per slot of epoch e: [item, caption, image-first].
  const slots = (loader: DataLoader, e: number): [number, string, boolean][] =>
    all(loader.epoch(e)).flatMap((b) => b.slots.map((s) => [b.items[s.source], b.captions[s.source] ?? '', s.imageFirst] as [number, string, boolean]));
  const off = slots(make(0), 0);
  const on = slots(make(1), 0);
  assert.deepEqual(on.map(([i, , f]) => [i, f]), off.map(([i, , f]) => [i, f]), 'the same items, order and dropout');
  let imageFirst = 0;
  on.forEach(([i, caption, first], k) => {
    if (first && off[k][1] !== '') {
      imageFirst++;
      assert.equal(caption, `plain ${i}`);
    } else {
      assert.equal(caption, off[k][1]);
    }
  });
  assert.ok(imageFirst >= 5, `only ${imageFirst} image-first pairs`);
  // Epoch 1 is past the plain epochs: every caption as drawn.
  assert.deepEqual(slots(make(1), 1), slots(make(0), 1));
  // A dataset without plain captions, and bad values, fail by field.
  assert.throws(() => all(new DataLoader(toy(n), { batchSize: 4, sequence: { ...seq, plainCaptionEpochs: 1 } }).epoch(0)), (e: unknown) => e instanceof ConfigError && /sequence\.plainCaptionEpochs/.test(e.message) && /no plainCaption/.test(e.message));
  for (const bad of [-1, 0.5]) {
    assert.throws(() => new DataLoader(plainToy, { batchSize: 4, sequence: { ...seq, plainCaptionEpochs: bad } }), (e: unknown) => e instanceof ConfigError && /sequence\.plainCaptionEpochs/.test(e.message));
  }
});

test('plainCaptionImageFirstProb: a reading warm-up, every pair image-first and plain in the plain epochs, the usual mix after', () => {
  const n = 40;
  const plainToy: ImageDataset = { ...toy(n), get: (i: number, r: Rng = new Rng(0)) => ({ ...toy(n).get(i, r), plainCaption: `plain ${i}` }) };
  const seq = { ...sequence, imageFirstProb: 0.2, captionDropout: 0.1, plainCaptionEpochs: 1, plainCaptionImageFirstProb: 1 };
  const loader = new DataLoader(plainToy, { batchSize: 4, sequence: seq }, { rng: new Rng(6) });
  const slots = (e: number) => all(loader.epoch(e)).flatMap((b) => b.slots.map((s) => ({ item: b.items[s.source], caption: b.captions[s.source] ?? '', first: s.imageFirst })));
  const warm = slots(0).filter((s) => s.caption !== '');
  assert.ok(warm.length >= 20 && warm.every((s) => s.first && s.caption === `plain ${s.item}`));
  const after = slots(1).filter((s) => s.caption !== '');
  assert.ok(after.some((s) => !s.first) && after.every((s) => !s.caption.startsWith('plain')));
  assert.throws(() => new DataLoader(plainToy, { batchSize: 4, sequence: { ...seq, plainCaptionImageFirstProb: 1.5 } }), (e: unknown) => e instanceof ConfigError && /sequence\.plainCaptionImageFirstProb/.test(e.message));
});

test('imageFirstByEpoch: each listed epoch pairs at its own image-first rate, later epochs at the usual one', () => {
  const n = 60;
  const plainToy: ImageDataset = { ...toy(n), get: (i: number, r: Rng = new Rng(0)) => ({ ...toy(n).get(i, r), plainCaption: `plain ${i}` }) };
  // Epoch 0 plain and all image-first, epoch 1 drawn captions and all image-first, epoch 2 none, epoch 3 the usual 0.5.
  const seq = { ...sequence, imageFirstProb: 0.5, captionDropout: 0, plainCaptionEpochs: 1, imageFirstByEpoch: [1, 1, 0] };
  const loader = new DataLoader(plainToy, { batchSize: 4, sequence: seq }, { rng: new Rng(7) });
  const slots = (e: number) => all(loader.epoch(e)).flatMap((b) => b.slots.map((s) => ({ item: b.items[s.source], caption: b.captions[s.source] ?? '', first: s.imageFirst })));
  assert.ok(slots(0).every((s) => s.first && s.caption === `plain ${s.item}`));
  assert.ok(slots(1).every((s) => s.first && !s.caption.startsWith('plain')));
  assert.ok(slots(2).every((s) => !s.first));
  const usual = slots(3).filter((s) => s.first).length;
  assert.ok(usual > 10 && usual < 50, `${usual} of ${n} image-first at 0.5`);
  // It takes precedence over plainCaptionImageFirstProb in the epochs it lists, and evaluation drops it.
  const full = { ...DEFAULT_SEQUENCE_CONFIG, ...seq };
  assert.equal(imageFirstProbAt({ ...full, plainCaptionImageFirstProb: 0.3, plainCaptionEpochs: 2 }, 1), 1);
  assert.equal(imageFirstProbAt({ ...full, imageFirstByEpoch: [], plainCaptionImageFirstProb: 0.3, plainCaptionEpochs: 2 }, 1), 0.3);
  assert.equal(imageFirstProbAt(withoutCurriculum(full), 0), 0.5);
  for (const bad of [[1.5], 'all', [0.5, -0.1]]) {
    assert.throws(
      () => new DataLoader(plainToy, { batchSize: 4, sequence: { ...seq, imageFirstByEpoch: bad as number[] } }),
      (e: unknown) => e instanceof ConfigError && /sequence\.imageFirstByEpoch/.test(e.message),
    );
  }
});

test("plainCaptionEpochs 'all': every epoch's image-first pairs read the plain caption, caption-first pairs keep the drawn ones", () => {
  const n = 40;
  const plainToy: ImageDataset = { ...toy(n), get: (i: number, r: Rng = new Rng(0)) => ({ ...toy(n).get(i, r), plainCaption: `plain ${i}` }) };
  const seq = { ...sequence, imageFirstProb: 0.5, captionDropout: 0, plainCaptionEpochs: 'all' as const, imageFirstByEpoch: [1] };
  const loader = new DataLoader(plainToy, { batchSize: 4, sequence: seq }, { rng: new Rng(8) });
  for (const e of [0, 1, 5]) {
    const slots = all(loader.epoch(e)).flatMap((b) => b.slots.map((s) => ({ item: b.items[s.source], caption: b.captions[s.source], first: s.imageFirst })));
    assert.ok(slots.filter((s) => s.first).length >= (e === 0 ? n : 5), `epoch ${e}`);
    for (const s of slots) assert.equal(s.caption === `plain ${s.item}`, s.first, `epoch ${e} item ${s.item}: ${s.caption}`);
  }
  assert.equal(isPlainEpoch({ ...DEFAULT_SEQUENCE_CONFIG, plainCaptionEpochs: 'all' }, 1e6), true);
  assert.equal(isPlainEpoch({ ...DEFAULT_SEQUENCE_CONFIG, plainCaptionEpochs: 2 }, 2), false);
  assert.throws(
    () => new DataLoader(plainToy, { batchSize: 4, sequence: { ...seq, plainCaptionEpochs: 'always' as never } }),
    (e: unknown) => e instanceof ConfigError && /sequence\.plainCaptionEpochs/.test(e.message) && /'all'/.test(e.message),
  );
});
