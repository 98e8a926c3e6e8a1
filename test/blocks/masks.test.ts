import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { SequenceLayout, layoutFromRuns } from '../../src/blocks/layout';
import { MaskPredicate, and, buildMask, causal, document, full, not, or, predicate, prefixLM, sameImage, transfusion } from '../../src/blocks/masks';
import { materializeMask, materializeMaskNaive } from '../../src/blocks/mask-materialize';
import { MASKED } from '../../src/blocks/attention';
import { ConfigError, ShapeError } from '../../src/config';

/** Rows of '0'/'1' strings from a [1, Lq, Lk] boolean mask. */
function rows(mask: tf.Tensor): string[] {
  const [, lq, lk] = mask.shape;
  const v = mask.dataSync();
  return Array.from({ length: lq }, (_, i) => Array.from(v.subarray(i * lk, (i + 1) * lk)).join(''));
}

function both(pred: MaskPredicate, layouts: SequenceLayout[], queryStart?: number): { fast: string[]; naive: string[] } {
  return tf.tidy(() => ({
    fast: rows(materializeMask(pred, layouts, { form: 'boolean', queryStart })),
    naive: rows(materializeMaskNaive(pred, layouts, { form: 'boolean', queryStart })),
  }));
}

test('transfusion mask for text, image, text, image: causal, plus bidirectional inside each image (paper eq.)', () => {
  const layout = layoutFromRuns([[['text', 2], ['image', 2], ['text', 1], ['image', 2]]]);
  const want = [
    '1000000',
    '1100000',
    '1111000',
    '1111000',
    '1111100',
    '1111111',
    '1111111',
  ];
  const { fast, naive } = both(transfusion, [layout]);
  assert.deepEqual(naive, want);
  assert.deepEqual(fast, want);
  assert.deepEqual(both(causal, [layout]).fast, ['1000000', '1100000', '1110000', '1111000', '1111100', '1111110', '1111111']);
  assert.deepEqual(both(sameImage, [layout]).fast, ['0000000', '0000000', '0011000', '0011000', '0000000', '0000011', '0000011']);
  assert.deepEqual(both(full, [layout]).fast, Array(7).fill('1111111'));
});

test('two packed documents: and(document, transfusion) is block diagonal', () => {
  const layout = layoutFromRuns([
    [['text', 2], ['image', 2]],
    [['text', 1], ['image', 2], ['text', 1]],
  ]);
  const want = [
    '10000000',
    '11000000',
    '11110000',
    '11110000',
    '00001000',
    '00001110',
    '00001110',
    '00001111',
  ];
  const { fast, naive } = both(and(document, transfusion), [layout]);
  assert.deepEqual(naive, want);
  assert.deepEqual(fast, want);
  assert.equal(and(document, transfusion).name, 'and(document, transfusion)');
});

test('prefix LM, not, and query rows for a cached prefix', () => {
  const layout = layoutFromRuns([[['text', 5]]]);
  assert.deepEqual(both(prefixLM(3), [layout]).fast, ['11100', '11100', '11100', '11110', '11111']);
  assert.deepEqual(both(not(causal), [layout]).fast, ['01111', '00111', '00011', '00001', '00000']);
  assert.deepEqual(both(prefixLM(3), [layout], 3).fast, ['11110', '11111']);
  const decode = tf.tidy(() => rows(materializeMask(causal, [layout], { form: 'boolean', queryStart: 2, queryEnd: 3 })));
  assert.deepEqual(decode, ['111']);
});

test('additive form is 0 where allowed and MASKED (-1e9) elsewhere', () => {
  const layout = layoutFromRuns([[['text', 2]]]);
  const v = tf.tidy(() => Array.from(materializeMask(causal, [layout], { form: 'additive' }).dataSync()));
  assert.deepEqual(v, [0, MASKED, 0, 0]);
  assert.equal(MASKED, -1e9);
});

function randomLayouts(r: Rng, batch: number): SequenceLayout[] {
  const raw = Array.from({ length: batch }, () => {
    const docs = Array.from({ length: 1 + r.int(3) }, () =>
      Array.from({ length: 1 + r.int(4) }, () => [r.bernoulli(0.5) ? 'image' : 'text', 1 + r.int(4)] as ['text' | 'image', number]),
    );
    return layoutFromRuns(docs);
  });
  const length = Math.max(...raw.map((l) => l.length));
  // Pad every row with text in its last document, so a batch shares one length.
  return raw.map((l) => {
    const pad = length - l.length;
    const lastDoc = l.document[l.length - 1];
    return {
      length,
      image: Int32Array.from([...l.image, ...Array(pad).fill(-1)]),
      document: Int32Array.from([...l.document, ...Array(pad).fill(lastDoc)]),
    };
  });
}

test('fast path equals the naive double loop on random layouts, for every built-in and composite predicate', () => {
  const r = new Rng(42);
  const predicates = [
    transfusion, causal, full, sameImage, document, prefixLM(4), and(document, transfusion), not(sameImage),
    or(prefixLM(2), and(document, sameImage)), and(document, not(sameImage), causal),
  ];
  const before = tf.memory().numTensors;
  for (let trial = 0; trial < 6; trial++) {
    const layouts = randomLayouts(r, 3);
    const start = trial % 2 === 0 ? 0 : r.int(layouts[0].length);
    for (const p of predicates) {
      for (const form of ['boolean', 'additive'] as const) {
        const [fast, naive] = [materializeMask(p, layouts, { form, queryStart: start }), materializeMaskNaive(p, layouts, { form, queryStart: start })];
        assert.deepEqual(fast.shape, [3, layouts[0].length - start, layouts[0].length]);
        assert.equal(fast.dtype, form === 'boolean' ? 'bool' : 'float32');
        assert.deepEqual(Array.from(fast.dataSync()), Array.from(naive.dataSync()), `${p.name} ${form} trial ${trial}`);
        tf.dispose([fast, naive]);
      }
    }
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});

test('rows with equal layouts share one computed mask, and still equal the fast path row by row', () => {
  const r = new Rng(7);
  const [a, b] = randomLayouts(r, 2);
  // c has a's images but other document boundaries: a different layout, whose rows must not be copied from a's.
  const c = { ...a, document: a.document.map((d, i) => (i >= a.length / 2 ? d + 1 : d)) };
  const layouts = [a, b, a, c, a, b];
  const before = tf.memory().numTensors;
  for (const p of [transfusion, and(document, transfusion), causal]) {
    for (const form of ['boolean', 'additive'] as const) {
      for (const start of [0, 1]) {
        const [fast, naive] = [materializeMask(p, layouts, { form, queryStart: start }), materializeMaskNaive(p, layouts, { form, queryStart: start })];
        assert.deepEqual(Array.from(naive.dataSync()), Array.from(fast.dataSync()), `${p.name} ${form} from ${start}`);
        tf.dispose([fast, naive]);
      }
    }
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});

test('a predicate without a dense form is materialised through the loop', () => {
  const diagonal = predicate('diagonal', (q, k) => q === k);
  const layout = layoutFromRuns([[['text', 3]]]);
  assert.deepEqual(both(diagonal, [layout]).fast, ['100', '010', '001']);
  assert.equal(and(diagonal, causal).dense, undefined);
  assert.deepEqual(both(or(diagonal, sameImage), [layout]).fast, ['100', '010', '001']);
});

test('mask configs go through the registry; bad kinds and fields name the field', () => {
  assert.equal(buildMask({ kind: 'transfusion' }), transfusion);
  assert.equal(buildMask(), transfusion);
  assert.equal(buildMask({ kind: 'prefix-lm', prefixLength: 2 }).name, 'prefixLM(2)');
  assert.throws(() => buildMask({ kind: 'bidirectional' } as never), (e: unknown) => e instanceof ConfigError && e.field === 'mask.kind' && /'transfusion', 'causal', 'full', 'prefix-lm'/.test(e.message));
  assert.throws(() => buildMask({ kind: 'prefix-lm', prefixLength: -1 }, 'model.mask'), (e: unknown) => e instanceof ConfigError && e.field === 'model.mask.prefixLength');
  assert.throws(() => and(), RangeError);
});

test('wrong-length layouts are clear errors', () => {
  const a = layoutFromRuns([[['text', 3]]]);
  const b = layoutFromRuns([[['text', 4]]]);
  assert.throws(() => materializeMask(causal, [a, b], { form: 'boolean' }), (e: unknown) => e instanceof ShapeError && e.message.includes('layouts[1].length') && e.message.includes('received [4]'));
  assert.throws(() => materializeMask(causal, [a], { form: 'boolean', length: 5 }), (e: unknown) => e instanceof ShapeError && e.message.includes('5 (the sequence length)'));
  const broken = { length: 3, image: new Int32Array(2), document: new Int32Array(3) };
  assert.throws(() => materializeMaskNaive(causal, [broken], { form: 'boolean' }), (e: unknown) => e instanceof ShapeError && e.message.includes('layouts[0].image'));
  assert.throws(() => materializeMask(causal, [], { form: 'boolean' }), /empty/);
  assert.throws(() => materializeMask(causal, [a], { form: 'boolean', queryStart: 4 }), (e: unknown) => e instanceof ConfigError && e.field === 'materializeMask.queryStart');
  assert.throws(() => materializeMask(causal, [a], { form: 'dense' as never }), (e: unknown) => e instanceof ConfigError && e.field === 'materializeMask.form');
});
