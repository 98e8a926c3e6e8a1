import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { KERNEL_HOOK, display, inKernel, updateDisplay, type KernelDisplayOptions } from '../../src/viz/display';
import type { MimeBundle } from '../../src/viz/mime';

type Sent = { bundle: MimeBundle; opts?: KernelDisplayOptions };

/** Install a fake kernel hook for the duration of `fn`, returning what was sent through it. */
function withFakeKernel(fn: () => void): Sent[] {
  const sent: Sent[] = [];
  const g = globalThis as Record<symbol, unknown>;
  g[KERNEL_HOOK] = { display: (bundle: MimeBundle, opts?: KernelDisplayOptions) => sent.push({ bundle, opts }) };
  try {
    fn();
  } finally {
    delete g[KERNEL_HOOK];
  }
  return sent;
}

/** Capture what `fn` writes to stdout. */
function captureStdout(fn: () => void): string {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (chunks.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

const rich = (n: number) => ({ toMimeBundle: (): MimeBundle => ({ data: { 'text/html': `<b>${n}</b>`, 'text/plain': `value ${n}` } }) });

test('inside a kernel, display and updates go through the hook with one display id', () => {
  const sent = withFakeKernel(() => {
    assert.equal(inKernel(), true);
    const handle = display(rich(1));
    handle.update(rich(2));
    updateDisplay(handle.displayId, { data: { 'text/plain': 'raw bundle' } });
  });
  assert.equal(sent.length, 3);
  assert.deepEqual(sent[0].bundle.data, { 'text/html': '<b>1</b>', 'text/plain': 'value 1' });
  assert.equal(sent[0].opts?.update, undefined);
  const id = sent[0].opts?.displayId;
  assert.ok(id && id.startsWith('display-'));
  assert.deepEqual(sent.slice(1).map((s) => s.opts), [{ displayId: id, update: true }, { displayId: id, update: true }]);
  assert.equal(sent[1].bundle.data['text/plain'], 'value 2');
  assert.equal(sent[2].bundle.data['text/plain'], 'raw bundle');
});

test('a chosen display id is used as given, and fresh ids differ', () => {
  const sent = withFakeKernel(() => {
    display(rich(1), { displayId: 'mine' });
    display(rich(2));
    display(rich(3));
  });
  assert.equal(sent[0].opts?.displayId, 'mine');
  assert.notEqual(sent[1].opts?.displayId, sent[2].opts?.displayId);
});

test('outside a kernel, display prints text/plain and updates print nothing', () => {
  assert.equal(inKernel(), false);
  const out = captureStdout(() => {
    const handle = display(rich(7));
    handle.update(rich(8));
    display({ data: { 'image/png': 'AAAA' } });
  });
  assert.equal(out, 'value 7\n<display: image/png>\n');
});

test('a value with neither toMimeBundle nor data is rejected, naming what is allowed', () => {
  assert.throws(() => display(42 as never), (err: unknown) => err instanceof ConfigError && /toMimeBundle/.test(err.message));
});
