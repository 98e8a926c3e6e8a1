import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { BOI, BOS, EOI, EOS, PAD, SPARE, VOCAB_SIZE, byteTokenizer, decode, encode, isSpecial } from '../../src/data/tokenizer';

test('ids are UTF-8 bytes, specials follow at 256..261 and the vocabulary is 262', () => {
  assert.deepEqual(encode('Hi!'), [72, 105, 33]);
  assert.deepEqual([BOS, EOS, PAD, BOI, EOI, SPARE, VOCAB_SIZE], [256, 257, 258, 259, 260, 261, 262]);
  assert.equal(byteTokenizer.vocabSize, 262);
  assert.deepEqual(encode(''), []);
  assert.equal(isSpecial(255), false);
  assert.equal(isSpecial(256), true);
  assert.equal(isSpecial(262), false);
});

test('round trip of non-ASCII text: accents, CJK, emoji', () => {
  const text = 'héllo wörld, 日本語 and 🎉 — “quotes”';
  const ids = encode(text);
  assert.ok(ids.every((id) => id >= 0 && id < 256));
  assert.deepEqual(encode('é'), [0xc3, 0xa9]);
  assert.deepEqual(encode('🎉'), [0xf0, 0x9f, 0x8e, 0x89]);
  assert.equal(decode(ids), text);
});

test('specials are skipped by default and shown by name on request', () => {
  const ids = [BOS, ...encode('a ¿'), BOI, EOI, EOS, PAD, SPARE];
  assert.equal(decode(ids), 'a ¿');
  assert.equal(decode(ids, { specials: 'show' }), '<bos>a ¿<boi><eoi><eos><pad><spare>');
});

test('invalid byte sequences decode to U+FFFD; out-of-vocabulary ids and bad options fail by name', () => {
  assert.equal(decode([0xff]), '\uFFFD');
  assert.equal(decode([0xc3]), '\uFFFD');
  assert.throws(() => decode([97, 262]), (e: unknown) => e instanceof ConfigError && e.field === 'decode.ids[1]' && /262/.test(e.message));
  assert.throws(() => decode([1.5]), ConfigError);
  assert.throws(() => decode([97], { specials: 'hide' as 'skip' }), /decode\.specials/);
});
