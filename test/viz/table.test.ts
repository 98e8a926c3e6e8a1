import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as aq from 'arquero';
import { ConfigError } from '../../src/config';
import { table } from '../../src/viz/table';

const dt = aq.table({
  arm: ['causal', 'bidirectional', 'noise-limit', 'vq'],
  loss: [2.3456789, 2.1, 2.25, 3],
  steps: [1000, 1000, 1000, 500],
});

test('the HTML view is arquero\'s own table with the shown rows and a footer counting the rest', () => {
  const bundle = table(dt, { maxRows: 3 }).toMimeBundle();
  assert.deepEqual(Object.keys(bundle.data).sort(), ['text/html', 'text/plain']);
  const html = bundle.data['text/html'] as string;
  assert.ok(html.startsWith(dt.toHTML({ limit: 3 })));
  assert.equal(html.split('<tr>').length - 1, 1 + 3, 'header row and three data rows');
  for (const arm of ['causal', 'bidirectional', 'noise-limit']) assert.ok(html.includes(`>${arm}</td>`), arm);
  assert.ok(!html.includes('>vq<'));
  assert.match(html, /4 rows x 3 columns \(1 more rows not shown\)/);
});

test('the text view aligns columns, right-aligns numbers and rounds them', () => {
  const text = table(dt, { maxRows: 2, digits: 3 }).toMimeBundle().data['text/plain'];
  assert.equal(
    text,
    [
      'arm            loss  steps',
      'causal         2.35   1000',
      'bidirectional  2.10   1000',
      '4 rows x 3 columns (2 more rows not shown)',
    ].join('\n'),
  );
  assert.throws(() => table(dt, { maxRows: 0 }), ConfigError);
});
