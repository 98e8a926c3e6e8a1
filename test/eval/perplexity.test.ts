import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { Transfusion } from '../../src/model/transfusion';
import { crossEntropy } from '../../src/model/objective';
import { byteTokenizer } from '../../src/data/tokenizer';
import type { ImageDataset } from '../../src/data/image';
import { captionPerplexity } from '../../src/eval/perplexity';

before(async () => {
  await initEngine();
});

const SMALL = { net: { transformer: { dModel: 32, nLayers: 2, nHeads: 2, ffnHidden: 64 } } };

/** Images of constant value `fill`, with fixed captions: the token count is known exactly. */
function fixedDataset(captions: string[], fill = 0.5): ImageDataset {
  return {
    length: captions.length,
    height: 16,
    width: 16,
    channels: 1,
    get: (i: number) => ({ image: new Float32Array(256).fill(fill), height: 16, width: 16, channels: 1, caption: captions[i], label: i % 10 }),
  };
}

test('a uniform LM (zero head) has perplexity = vocabulary size 262; no tensors leak', () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(0));
  tf.tidy(() => model.net.head.weight.assign(tf.zerosLike(model.net.head.weight)));
  const before = tf.memory().numTensors;
  const r = captionPerplexity(model, { n: 20, batchSize: 8 });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(Math.abs(r.perplexity - 262) < 262 * 1e-5, `perplexity ${r.perplexity}`);
  assert.ok(Math.abs(r.nll - Math.log(262)) < 1e-5);
  assert.equal(r.documents, 20);
  // The training templates are 1 to 21 bytes long.
  assert.ok(r.tokens >= 20 && r.tokens <= 20 * 21, `tokens ${r.tokens}`);
  model.dispose();
});

test('caption tokens are exactly the caption bytes (BOI, EOI, EOS not scored), under both orders', () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(1));
  const captions = ['a 7', 'the digit 3', 'nine'];
  for (const order of ['caption-first', 'image-first'] as const) {
    const r = captionPerplexity(model, { n: 3, batchSize: 2, order }, { dataset: fixedDataset(captions) });
    assert.equal(r.tokens, 3 + 11 + 4, order);
    assert.equal(r.documents, 3);
  }
  // A model trained without prompt loss (sequence.promptLoss false) is scored on the same tokens.
  const noPrompt = Transfusion.create('mnist', { ...SMALL, sequence: { promptLoss: false } }, new Rng(1));
  assert.equal(captionPerplexity(noPrompt, { n: 3, batchSize: 2 }, { dataset: fixedDataset(captions) }).tokens, 3 + 11 + 4);
  noPrompt.dispose();
  model.dispose();
});

test('caption-first equals a text-only forward of [BOS] caption (the causal mask hides the later image)', () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(2));
  const captions = ['a handwritten seven', 'the digit 3'];
  const r = captionPerplexity(model, { n: 2, batchSize: 2 }, { dataset: fixedDataset(captions) });
  // Oracle: each caption alone as a text row, no image anywhere; NLL of bytes 1..n given the prefix.
  let sum = 0;
  let count = 0;
  for (const c of captions) {
    const ids = [byteTokenizer.bos, ...byteTokenizer.encode(c)];
    const L = ids.length;
    const nll = tf.tidy(() => {
      const out = model.net.forward({
        batchSize: 1, length: L, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i),
        layouts: [{ length: L, image: new Int32Array(L).fill(-1), document: new Int32Array(L) }], slots: [], latents: null, t: null,
      });
      const rows = Int32Array.from({ length: L - 1 }, (_, i) => i);
      return crossEntropy(model.net.logitsAt(out.hidden, rows), Int32Array.from(ids.slice(1))).dataSync()[0];
    });
    sum += nll * (L - 1);
    count += L - 1;
  }
  assert.equal(r.tokens, count);
  assert.ok(Math.abs(r.nll - sum / count) < 1e-5, `${r.nll} vs oracle ${sum / count}`);
  // So the image cannot matter caption-first; image-first it must (the caption attends to it).
  const other = captionPerplexity(model, { n: 2, batchSize: 2 }, { dataset: fixedDataset(captions, -0.8) });
  assert.equal(other.nll, r.nll);
  const a = captionPerplexity(model, { n: 2, order: 'image-first' }, { dataset: fixedDataset(captions, 0.5) });
  const b = captionPerplexity(model, { n: 2, order: 'image-first' }, { dataset: fixedDataset(captions, -0.8) });
  assert.notEqual(a.nll, b.nll);
  model.dispose();
});

test('images enter clean: t = 0 is what the network sees (image-first NLL equals a forward with t = 0)', () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(3));
  const captions = ['a 5'];
  const r = captionPerplexity(model, { n: 1, order: 'image-first' }, { dataset: fixedDataset(captions, 0.25) });
  // [BOS] [BOI] 64 patches [EOI] 'a 5' [EOS]: caption targets at EOI ('a'), 'a' (' '), ' ' ('5').
  const ids = [byteTokenizer.bos, byteTokenizer.boi, ...new Array(64).fill(byteTokenizer.pad), byteTokenizer.eoi, ...byteTokenizer.encode('a 5'), byteTokenizer.eos];
  const L = model.config.sequence.length;
  const tokens = new Int32Array(L).fill(byteTokenizer.pad);
  tokens.set(ids);
  const image = new Int32Array(L).fill(-1).fill(0, 2, 66);
  const document = new Int32Array(L).fill(1).fill(0, 0, ids.length);
  const positions = Int32Array.from({ length: L }, (_, i) => (i < ids.length ? i : i - ids.length));
  const nllAt = (t: number) => tf.tidy(() => {
    const out = model.net.forward({
      batchSize: 1, length: L, tokens, positions, layouts: [{ length: L, image, document }], slots: [{ row: 0, start: 2 }],
      latents: tf.fill([1, 16, 16, 1], 0.25), t: tf.tensor1d([t]),
    });
    return crossEntropy(model.net.logitsAt(out.hidden, Int32Array.of(66, 67, 68)), Int32Array.from(byteTokenizer.encode('a 5'))).dataSync()[0];
  });
  assert.ok(Math.abs(r.nll - nllAt(0)) < 1e-5, `${r.nll} vs ${nllAt(0)}`);
  assert.ok(Math.abs(r.nll - nllAt(0.9)) > 1e-4, 'a noisy image would give another value');
  model.dispose();
});

test('config errors name the field', () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(4));
  assert.throws(() => captionPerplexity(model, { n: 0 }), /perplexity\.n: got 0/);
  assert.throws(() => captionPerplexity(model, { n: 1001 }), /perplexity\.n: got 1001; allowed: at most the 1000 held-out items/);
  assert.throws(() => captionPerplexity(model, { order: 'sideways' as never }), /perplexity\.order: got "sideways"/);
  assert.throws(() => captionPerplexity(model, { bogus: 1 } as never), /perplexity\.bogus/);
  model.dispose();
});
