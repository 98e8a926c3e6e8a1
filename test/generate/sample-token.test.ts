import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import { ConfigError } from '../../src/config';
import { sampleToken } from '../../src/generate/sample-token';
import { DEFAULT_GENERATE, resolveGenerateOptions } from '../../src/generate/options';

const plain = { temperature: 1, greedy: false, topK: 0, topP: 1 };

function frequencies(logits: number[], options: typeof plain, draws: number, seed: number): number[] {
  const rng = new Rng(seed);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, options, rng)]++;
  return counts.map((c) => c / draws);
}

function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

test('greedy is the argmax (lowest id on ties), skips banned ids and draws nothing', () => {
  const rng = new Rng(1);
  const before = new Rng(1).next();
  assert.equal(sampleToken([0, 3, 1, 3], { ...plain, greedy: true }, rng), 1);
  assert.equal(sampleToken([0, 3, 1, 3], { ...plain, greedy: true }, rng, [1, 3]), 2);
  assert.equal(rng.next(), before);
  assert.throws(() => sampleToken([1, 2], plain, rng, [0, 1]), /all 2 ids are banned/);
});

test('sampling matches softmax(logits / temperature) within 3 standard errors', () => {
  const logits = [1, 0, -1, 2];
  for (const temperature of [1, 0.5, 2]) {
    const p = softmax(logits.map((l) => l / temperature));
    const f = frequencies(logits, { ...plain, temperature }, 4000, 7);
    p.forEach((pi, i) => assert.ok(Math.abs(f[i] - pi) < 3 * Math.sqrt((pi * (1 - pi)) / 4000), `T=${temperature} id ${i}: ${f[i]} vs ${pi}`));
  }
});

test('top-k keeps the k most likely, renormalised; top-p keeps the smallest set reaching p', () => {
  const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)];
  const k2 = frequencies(logits, { ...plain, topK: 2 }, 4000, 3);
  assert.equal(k2[2] + k2[3], 0);
  assert.ok(Math.abs(k2[0] - 0.625) < 0.03, `top-2 p(0) = ${k2[0]}`);
  // p = 0.79 needs ids 0 and 1 (0.5 + 0.3); p = 0.81 also needs id 2.
  const p79 = frequencies(logits, { ...plain, topP: 0.79 }, 4000, 4);
  assert.equal(p79[2] + p79[3], 0);
  assert.ok(Math.abs(p79[0] - 0.625) < 0.03, `top-p 0.79 p(0) = ${p79[0]}`);
  const p81 = frequencies(logits, { ...plain, topP: 0.81 }, 4000, 5);
  assert.ok(p81[2] > 0.1 && p81[3] === 0, `top-p 0.81: ${p81}`);
  const tiny = frequencies(logits, { ...plain, topP: 1e-6 }, 200, 6);
  assert.equal(tiny[0], 1);
});

test('the same seed gives the same draws', () => {
  const logits = [0.1, 0.2, 0.3, 0.4, 0.5];
  const a = Array.from({ length: 20 }, ((r) => () => sampleToken(logits, plain, r))(new Rng(9)));
  const b = Array.from({ length: 20 }, ((r) => () => sampleToken(logits, plain, r))(new Rng(9)));
  assert.deepEqual(a, b);
});

test('generate options: defaults, sampler completed from its kind, errors name the field', () => {
  const d = resolveGenerateOptions();
  assert.deepEqual(d, DEFAULT_GENERATE);
  assert.deepEqual(d.sampler, { kind: 'ddim', steps: 50, eta: 0, spacing: 'trailing', T: null, clipX0: null });
  assert.equal(d.guidanceScale, 1);
  assert.deepEqual(resolveGenerateOptions({ sampler: { kind: 'euler', steps: 8 } }).sampler, { kind: 'euler', steps: 8, spacing: 'trailing', T: null, clipX0: null });
  assert.equal((resolveGenerateOptions({ sampler: { steps: 8 } }).sampler as { eta: number }).eta, 0);
  const cases: Array<[object, RegExp]> = [
    [{ temperature: 0 }, /generate\.temperature: got 0/],
    [{ topP: 0 }, /generate\.topP: got 0; allowed: a number in \(0, 1\]/],
    [{ topK: 1.5 }, /generate\.topK/],
    [{ maxTokens: -1 }, /generate\.maxTokens/],
    [{ guidanceScale: Number.NaN }, /generate\.guidanceScale/],
    [{ sampler: { kind: 'heun' } }, /generate\.sampler\.kind: got "heun"; allowed: 'ddpm', 'ddim', 'euler'/],
    [{ sampler: { kind: 'ddim', step: 3 } }, /generate\.sampler\.step/],
    [{ temprature: 1 }, /generate\.temprature/],
  ];
  for (const [o, re] of cases) assert.throws(() => resolveGenerateOptions(o as never), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
});
