/**
 * What a cell's last value and a `display()` call put on the wire: bundles pass through with their
 * metadata, a text/plain is always there, bytes become base64, tensors show their values, and the hook
 * refuses what Jupyter could not show.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { contentOf, installDisplayHook, installTensorInspect, KERNEL_HOOK, KernelHook, OutputArea, resultOf, tensorText } from '../../kernel/display';
import { DisplayContent } from '../../kernel/protocol';
import { tf } from '../../src/engine/tf';

test('plain values show their util.inspect text, like a REPL', () => {
  assert.deepEqual(resultOf(42), { data: { 'text/plain': '42' }, metadata: {}, transient: {} });
  assert.equal(resultOf('abc').data['text/plain'], "'abc'");
  assert.equal(resultOf({ a: [1, 2] }).data['text/plain'], '{ a: [ 1, 2 ] }');
});

test('an object with toMimeBundle gives its bundle and metadata; text/plain names what it is when missing', () => {
  class Plot {
    toMimeBundle() {
      return { data: { 'text/html': '<b>p</b>', 'application/json': { a: 1 } }, metadata: { 'text/html': { isolated: true } } };
    }
  }
  assert.deepEqual(resultOf(new Plot()), {
    data: { 'text/html': '<b>p</b>', 'application/json': { a: 1 }, 'text/plain': '<Plot: text/html, application/json>' },
    metadata: { 'text/html': { isolated: true } },
    transient: {},
  });
  const own = { toMimeBundle: () => ({ data: { 'text/plain': 'mine', 'text/markdown': '*m*' } }) };
  assert.deepEqual(resultOf(own).data, { 'text/plain': 'mine', 'text/markdown': '*m*' });
});

test('byte arrays in a bundle become base64, as Jupyter expects for images', () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
  const content = contentOf({ data: { 'image/png': png, 'text/plain': 'img' } }, 'display', 'fig-1');
  assert.deepEqual(content, { data: { 'image/png': 'iVBORw==', 'text/plain': 'img' }, metadata: {}, transient: { display_id: 'fig-1' } });
});

test('a tensor shows like PyTorch: values, shape and dtype, abbreviated when long; a disposed one says so', () => {
  const t = tf.tensor2d([[1, 2], [3, 4]]);
  const before = tf.memory().numTensors;
  assert.equal(resultOf(t).data['text/plain'], 'tensor([[1, 2],\n        [3, 4]], shape=[2, 2], dtype=float32)');
  assert.equal(tf.memory().numTensors, before);
  t.dispose();
  assert.equal(resultOf(t).data['text/plain'], 'tensor(<disposed>, shape=[2, 2], dtype=float32)');
  const long = tf.range(0, 1000, 1, 'int32');
  assert.equal(tensorText(long), 'tensor([0, 1, 2, ..., 997, 998, 999], shape=[1000], dtype=int32)');
  assert.equal(tensorText(tf.scalar(5)), 'tensor(5, shape=[], dtype=float32)');
  long.dispose();
});

test('console.log prints a tensor the same way, once the kernel installed it', () => {
  installTensorInspect();
  const t = tf.tensor1d([0.5, 1.5]);
  assert.equal(inspect(t), 'tensor([0.5, 1.5], shape=[2], dtype=float32)');
  assert.equal(inspect({ t }), '{ t: tensor([0.5, 1.5], shape=[2], dtype=float32) }');
  t.dispose();
});

test('the display hook lives at Symbol.for("transfusion.kernel") and writes to the current output area', () => {
  const written: [DisplayContent, boolean][] = [];
  const cleared: boolean[] = [];
  let area: OutputArea | null = null;
  const hook = installDisplayHook(() => area, () => true);
  assert.equal((globalThis as { [KERNEL_HOOK]?: KernelHook })[KERNEL_HOOK], hook);
  assert.equal(Symbol.for('transfusion.kernel'), KERNEL_HOOK);

  assert.throws(() => hook.display({ data: { 'text/plain': 'x' } }), /before any cell ran/);
  area = { display: (c, u) => written.push([c, u]), clear: (wait) => cleared.push(wait) };
  hook.display({ data: { 'text/html': '<i>1</i>' }, metadata: { 'text/html': { isolated: true } } }, { displayId: 'loss' });
  hook.display({ data: { 'text/plain': '2' } }, { displayId: 'loss', update: true });
  hook.display({ data: { 'text/plain': 'plain' } });
  hook.clearOutput(true);
  assert.deepEqual(written, [
    [{ data: { 'text/html': '<i>1</i>', 'text/plain': '<display: text/html>' }, metadata: { 'text/html': { isolated: true } }, transient: { display_id: 'loss' } }, false],
    [{ data: { 'text/plain': '2' }, metadata: {}, transient: { display_id: 'loss' } }, true],
    [{ data: { 'text/plain': 'plain' }, metadata: {}, transient: {} }, false],
  ]);
  assert.deepEqual(cleared, [true]);
  assert.throws(() => hook.display({ data: {} }, { update: true }), /needs opts\.displayId/);
  assert.equal(written.length, 3);
  delete (globalThis as { [KERNEL_HOOK]?: KernelHook })[KERNEL_HOOK];
});
