import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIGIT_WORDS, DEFAULT_MNIST_CONFIG, canonicalCaption } from '../../src/data/mnist';
import { captionAccuracy, captionDigit, namedDigits } from '../../src/eval/caption-digit';

test('every training phrasing and the canonical caption name their digit', () => {
  for (let d = 0; d < 10; d++) {
    assert.equal(captionDigit(canonicalCaption(d)), d);
    for (const template of DEFAULT_MNIST_CONFIG.templates) {
      const caption = template.replace('{word}', DIGIT_WORDS[d]).replace('{digit}', String(d));
      assert.equal(captionDigit(caption), d, caption);
    }
  }
});

test('words and numerals, any case, glued to letters or punctuation', () => {
  const cases: Array<[string, number | null]> = [
    ['Seven', 7],
    ['a handwritten SEVEN.', 7],
    ['7', 7],
    ['a7', 7],
    ['(3)', 3],
    ['seven, i.e. 7', 7],
    ['the digit 4!', 4],
  ];
  for (const [caption, digit] of cases) assert.equal(captionDigit(caption), digit, caption);
});

test('no digit, several digits or a longer number is wrong (null)', () => {
  const cases = ['', 'a handwritten digit', 'someone', 'seventeen', 'oneself', 'one or seven', '3 and 8', 'the number 17', 'seven 77', '\ufffd\ufffd'];
  for (const caption of cases) assert.equal(captionDigit(caption), null, caption);
  assert.deepEqual(namedDigits('one or 7, then 12 and 005'), { digits: [1, 7], otherNumbers: ['12', '005'] });
});

test('captionAccuracy counts exact matches; length mismatch and empty input are errors', () => {
  assert.equal(captionAccuracy(['a 7', 'the digit 3', 'eight or nine', 'zero'], [7, 2, 8, 0]), 0.5);
  assert.throws(() => captionAccuracy(['a 7'], [7, 1]), /1 captions but 2 labels/);
  assert.throws(() => captionAccuracy([], []), /no captions/);
});
