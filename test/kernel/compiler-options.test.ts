/**
 * kernel/compiler-options.ts: cells are type-checked with the checking options of the nearest tsconfig.json, else
 * strict. The last test goes through tslab's own converter, so it fails if tslab stops taking the options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from '@tslab/typescript-for-tslab';
import { cellCheckOptions, describeCheckOptions, installCompilerOptions, DEFAULT_CHECK_OPTIONS } from '../../kernel/compiler-options';

function folder(tsconfig?: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-cellcheck-'));
  if (tsconfig !== undefined) fs.writeFileSync(path.join(dir, 'tsconfig.json'), typeof tsconfig === 'string' ? tsconfig : JSON.stringify(tsconfig));
  fs.mkdirSync(path.join(dir, 'notebooks'));
  return dir;
}

test('no tsconfig.json above the folder: strict, said so in the banner line', () => {
  const c = cellCheckOptions(folder(), ts);
  assert.deepEqual(c, { options: DEFAULT_CHECK_OPTIONS, from: null, problem: null });
  assert.match(describeCheckOptions(c), /^cells: type-checked with strict \(the default; a tsconfig\.json above the notebook sets them\)$/);
});

test('the nearest tsconfig.json gives its checking options only, found from a sub-folder as tsc finds it', () => {
  const dir = folder({
    compilerOptions: { strict: false, noImplicitAny: true, noUncheckedIndexedAccess: true, noUnusedLocals: true, module: 'commonjs', target: 'ES5', outDir: 'dist' },
  });
  const c = cellCheckOptions(path.join(dir, 'notebooks'), ts);
  assert.deepEqual(c.options, { strict: false, noImplicitAny: true, noUncheckedIndexedAccess: true });
  assert.equal(c.from, path.join(dir, 'tsconfig.json'));
  assert.match(describeCheckOptions(c), /strict: false, noImplicitAny, noUncheckedIndexedAccess \(from .*tsconfig\.json\)/);
});

test('a tsconfig.json that cannot be read falls back to strict and says why, naming the file', () => {
  const dir = folder('{ "compilerOptions": { "strict": "yes" } }');
  const c = cellCheckOptions(dir, ts);
  assert.deepEqual(c.options, DEFAULT_CHECK_OPTIONS);
  assert.equal(c.from, null);
  assert.ok(c.problem?.startsWith(path.join(dir, 'tsconfig.json')), c.problem ?? 'no problem');
  assert.match(c.problem!, /strict/);
  assert.match(describeCheckOptions(c), /the default, since .*tsconfig\.json/);
});

test("tslab's converter compiles cells with the options: implicit any is an error under strict", () => {
  const dir = folder({ compilerOptions: { strict: true } });
  const check = installCompilerOptions(dir);
  assert.deepEqual(check.options, { strict: true });
  const { createConverter } = require('tslab/dist/converter') as typeof import('tslab/dist/converter');
  const converter = createConverter({ isJS: false, isBrowser: false });
  try {
    const strictOut = converter.convert('', 'function f(x) { return x; }');
    assert.deepEqual(strictOut.diagnostics.map((d) => d.messageText), ["Parameter 'x' implicitly has an 'any' type."]);
    const fine = converter.convert('', 'function g(x: number) { return x; }');
    assert.deepEqual(fine.diagnostics, []);
  } finally {
    converter.close();
  }
  assert.throws(() => installCompilerOptions(dir), /before tslab\/dist\/converter is loaded/);
});
