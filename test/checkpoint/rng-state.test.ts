import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { ConfigError } from '../../src/config';
import { Rng, getSeed, rng, setGlobalRngState, setSeed } from '../../src/engine/random';

test('draws are those of plain seedrandom.alea (state capture changes nothing)', () => {
  for (const seed of [0, 42, 'a/b/7']) {
    const plain = seedrandom.alea(String(seed));
    const r = new Rng(seed);
    for (let i = 0; i < 50; i++) assert.equal(r.next(), plain());
  }
});

test('fromState(state()) continues the stream exactly, through JSON, including a pending normal', () => {
  const r = new Rng(5);
  for (let i = 0; i < 17; i++) r.next();
  r.normal(); // leaves the second normal of the polar pair pending
  const saved = JSON.parse(JSON.stringify(r.state()));
  assert.notEqual(saved.spare, null);
  const copy = Rng.fromState(saved);
  assert.equal(copy.seed, 5);
  const a = [r.normal(), r.normal(), r.next(), r.int(1000), r.opSeed(), r.fork('x').next(), ...r.permutation(6)];
  const b = [copy.normal(), copy.normal(), copy.next(), copy.int(1000), copy.opSeed(), copy.fork('x').next(), ...copy.permutation(6)];
  assert.deepEqual(b, a);
});

test('tensor draws continue too: randomNormal after a restore equals the uninterrupted one', () => {
  const r = new Rng('tensors');
  r.randomNormal([3]).dispose();
  const copy = Rng.fromState(r.state());
  const x = r.randomNormal([4]);
  const y = copy.randomNormal([4]);
  assert.deepEqual(Array.from(y.dataSync()), Array.from(x.dataSync()));
  x.dispose();
  y.dispose();
});

test('setState restores in place, seed included, so holders of the object resume', () => {
  const source = new Rng('other');
  source.next();
  const held = new Rng(1);
  held.setState(source.state());
  assert.equal(held.seed, 'other');
  assert.equal(held.next(), source.next());
  assert.equal(held.fork('f').next(), source.fork('f').next());
});

test('a malformed state is a ConfigError naming the field', () => {
  const good = new Rng(0).state();
  const cases: Array<[unknown, RegExp]> = [
    [null, /^rngState: got null/],
    [{ ...good, seed: {} }, /rngState\.seed/],
    [{ ...good, alea: { ...good.alea, s1: 'x' } }, /rngState\.alea\.s1: got "x"/],
    [{ ...good, spare: Infinity }, /rngState\.spare/],
  ];
  for (const [state, re] of cases) {
    assert.throws(() => Rng.fromState(state as never), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
  }
});

test('setGlobalRngState continues the global stream in place and restores its seed', () => {
  setSeed(11);
  const held = rng();
  held.next();
  const saved = held.state();
  const expected = [held.next(), held.next()];
  setSeed(99);
  const current = rng();
  setGlobalRngState(saved);
  assert.equal(rng(), current, 'the same object, so blocks that captured rng() follow');
  assert.equal(getSeed(), 11);
  assert.deepEqual([rng().next(), rng().next()], expected);
  setSeed(0);
});
