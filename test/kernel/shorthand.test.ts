/**
 * kernel/shorthand.ts: shorthand properties spelled out before tslab compiles a cell, so `{ model }` reaches an
 * earlier cell's variable, and compiler columns mapped back to the cell as typed. The kernel-level check (two
 * real cells) is in test/kernel/python/test_lab_kernel.py.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ts from '@tslab/typescript-for-tslab';
import { expandShorthands, originalColumn } from '../../kernel/shorthand';
import { diagnosticAsTyped } from '../../kernel/handler';

test('shorthand properties are spelled out; everything else is left byte for byte', () => {
  assert.equal(expandShorthands('({ v, w })').code, '({ v: v, w: w })');
  assert.equal(expandShorthands('({ a = 1, b } = o);').code, '({ a: a = 1, b: b } = o);');
  assert.equal(expandShorthands('const r = await f({ x,\n  y });').code, 'const r = await f({ x: x,\n  y: y });');
  assert.equal(expandShorthands('g({ inner: { deep } }, [{ e }])').code, 'g({ inner: { deep: deep } }, [{ e: e }])');
  const untouched = [
    'const { a, b } = o;',
    'function f({ a }: { a: number }) { return a; }',
    '({ ...rest, m() { return 1; }, get g() { return 2; }, k: 3 })',
    'const s = "{ v }"; // { v }\n/* { w } */ `${"{ x }"}`',
    'let n = 1;',
  ];
  for (const code of untouched) assert.deepEqual(expandShorthands(code), { code, insertions: [] }, code);
});

test('the expanded cell means the same: the same value where the shorthand resolves locally', () => {
  const cells = ['const v = 2, w = "x";\n({ v, w })', 'const o = { a: 5 };\nlet a = 0, b = 0;\n({ a, b = 7 } = o);\n[a, b]'];
  for (const code of cells) {
    const run = (c: string) => eval(ts.transpileModule(c, { compilerOptions: { target: ts.ScriptTarget.ES2022 } }).outputText.replace(/^export \{\};\s*/m, ''));
    assert.deepEqual(run(expandShorthands(code).code), run(code), code);
  }
});

test('compiler columns map back to the cell as typed, and into an insertion they point at the name', () => {
  const code = 'x; ({ alpha, b }); const q: string = 1;\n({ c }); zz';
  const { code: expanded, insertions } = expandShorthands(code);
  assert.equal(expanded, 'x; ({ alpha: alpha, b: b }); const q: string = 1;\n({ c: c }); zz');
  // After both insertions on line 0: `q` is where the user typed it.
  assert.equal(originalColumn(insertions, 0, expanded.indexOf('q')), code.indexOf('q'));
  // Before any insertion: unchanged.
  assert.equal(originalColumn(insertions, 0, 0), 0);
  // Inside `: alpha` (the value a "no value in scope" error points at): the shorthand name.
  assert.equal(originalColumn(insertions, 0, expanded.indexOf(': alpha') + 3), code.indexOf('alpha'));
  // Line 1 has its own insertion.
  assert.equal(originalColumn(insertions, 1, expanded.split('\n')[1].indexOf('zz')), code.split('\n')[1].indexOf('zz'));
  // The handler rewrites tslab's diagnostic report (format, file, 1-based line, 1-based column, message).
  const report = ['%s%d:%d - %s', '', 1, expanded.indexOf('q') + 1, "Type 'number' is not assignable to type 'string'."];
  assert.deepEqual(diagnosticAsTyped(report, { code: expanded, insertions }), ['%s%d:%d - %s', '', 1, code.indexOf('q') + 1, report[4]]);
  const thrown = [new Error('boom')];
  assert.equal(diagnosticAsTyped(thrown, { code: expanded, insertions }), thrown);
});
