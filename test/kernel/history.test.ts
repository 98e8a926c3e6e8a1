/**
 * The kernel's history: glob search agrees with SQLite's GLOB (fixtures/sqlite_glob.json, made by
 * fixtures/sqlite_glob.py), and tail, range and search answer as ipykernel's history_request does.
 */
import { readFixture } from '../helpers/fixtures';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, History } from '../../kernel/history';

const GLOB = readFixture<{ cases: [string, string, boolean][] }>(__dirname, 'sqlite_glob.json');

test('glob patterns match exactly what SQLite GLOB matches', () => {
  assert.ok(GLOB.cases.length > 200);
  for (const [pattern, text, matches] of GLOB.cases) {
    assert.equal(globToRegExp(pattern).test(text), matches, `${JSON.stringify(text)} GLOB ${JSON.stringify(pattern)}`);
  }
});

function filled(): History {
  const h = new History();
  h.record(1, 'const a = 1;', null);
  h.record(2, '6 * 7', '42');
  h.record(3, "'tensor'", "'tensor'");
  h.record(4, '6 * 7', '42');
  h.record(5, 'a + 1', '2');
  return h;
}

test('tail returns the last n inputs, with outputs when asked', () => {
  const h = filled();
  assert.deepEqual(h.query({ hist_access_type: 'tail', n: 2, output: false, raw: true }), [[1, 4, '6 * 7'], [1, 5, 'a + 1']]);
  assert.deepEqual(h.query({ hist_access_type: 'tail', n: 1, output: true, raw: true }), [[1, 5, ['a + 1', '2']]]);
  assert.equal(h.query({ hist_access_type: 'tail', output: false, raw: true }).length, 5, 'no n: everything');
  assert.deepEqual(h.query({ hist_access_type: 'tail', n: 1, output: true, raw: true, session: 0 }), [[1, 5, ['a + 1', '2']]]);
});

test('range selects lines [start, stop) of the current session (0 or its number); other sessions are empty', () => {
  const h = filled();
  assert.deepEqual(h.query({ hist_access_type: 'range', session: 1, start: 2, stop: 4, output: false, raw: true }), [[1, 2, '6 * 7'], [1, 3, "'tensor'"]]);
  assert.deepEqual(h.query({ hist_access_type: 'range', session: 0, start: 5, output: true, raw: true }), [[1, 5, ['a + 1', '2']]]);
  assert.deepEqual(h.query({ hist_access_type: 'range', session: -1, start: 1, output: false, raw: true }), []);
  assert.deepEqual(h.query({ hist_access_type: 'range', session: 7, start: 1, output: false, raw: true }), []);
});

test('search: glob over inputs, unique keeps the latest of each, n keeps the last n', () => {
  const h = filled();
  assert.deepEqual(h.query({ hist_access_type: 'search', pattern: '6 ?*', output: false, raw: true }), [[1, 2, '6 * 7'], [1, 4, '6 * 7']]);
  assert.deepEqual(h.query({ hist_access_type: 'search', pattern: '6 ?*', unique: true, output: false, raw: true }), [[1, 4, '6 * 7']]);
  assert.deepEqual(h.query({ hist_access_type: 'search', pattern: '*', n: 2, output: false, raw: true }), [[1, 4, '6 * 7'], [1, 5, 'a + 1']]);
  assert.deepEqual(h.query({ hist_access_type: 'search', pattern: 'zzz*', output: false, raw: true }), []);
});
