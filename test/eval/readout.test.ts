/**
 * The digit readout (src/eval/readout.ts) scores the ten digit characters after "the digit " on image-first
 * held-out documents. Its bookkeeping is checked with a rigged LM head: logits that favour each document's true
 * digit give 1, logits that favour the next digit give 0, so a row or order slip cannot pass. An untrained model
 * is near chance, and nothing leaks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { Transfusion } from '../../src/model/transfusion';
import { byteTokenizer } from '../../src/data/tokenizer';
import { mnistHeldoutDigits } from '../../src/eval/classifier-train';
import { digitReadout } from '../../src/eval/readout';

before(async () => {
  await initEngine();
});

const small = () => Transfusion.create('mnist', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } }, new Rng(1));

/** Replace the LM head's output: row k of each call gets a large logit on the byte of `pick(k-th document)`. */
function rig(model: Transfusion, pick: (label: number) => number): void {
  const labels = mnistHeldoutDigits().labels;
  let seen = 0;
  const vocab = model.config.net.vocabSize;
  model.net.logitsAt = (_hidden: tf.Tensor, rows: Int32Array) => {
    const logits = new Float32Array(rows.length * vocab);
    for (let k = 0; k < rows.length; k++) logits[k * vocab + byteTokenizer.encode(String(pick(labels[seen + k])))[0]] = 20;
    seen += rows.length;
    return tf.tensor2d(logits, [rows.length, vocab]);
  };
}

test('the readout finds each document\'s digit target: a head that names the true digit scores 1, the next digit 0', () => {
  const right = small();
  rig(right, (d) => d);
  const r = digitReadout(right, 40, 16);
  assert.equal(r.documents, 40);
  assert.equal(r.accuracy, 1);
  assert.ok(r.probability > 0.99);
  right.dispose();
  const wrong = small();
  rig(wrong, (d) => (d + 1) % 10);
  assert.equal(digitReadout(wrong, 40, 16).accuracy, 0);
  wrong.dispose();
});

test('an untrained model reads near chance, the result does not depend on the batch size, nothing leaks, n is checked', () => {
  const model = small();
  const before = tf.memory().numTensors;
  const a = digitReadout(model, 100, 32);
  const b = digitReadout(model, 100, 7);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(a.accuracy < 0.35, `untrained readout ${a.accuracy}`);
  assert.ok(Math.abs(a.probability - 0.1) < 0.05, `mean probability ${a.probability}`);
  assert.equal(a.accuracy, b.accuracy);
  assert.ok(Math.abs(a.probability - b.probability) < 1e-5);
  assert.throws(() => digitReadout(model, 0), /readout\.n.*1 to the 1000 held-out digits/);
  model.dispose();
});
