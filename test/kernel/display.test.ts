/**
 * What a cell's last value and a `display()` call put on the wire: bundles pass through with their
 * metadata, a text/plain is always there, bytes become base64, tensors show their values, and the hook
 * refuses what Jupyter could not show.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentOf, installDisplayHook, KERNEL_HOOK, KernelHook, resultOf } from '../../kernel/display';
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

test('a tensor shows its values (and a disposed one says so) without leaking tensors', () => {
  const t = tf.tensor2d([[1, 2], [3, 4]]);
  const before = tf.memory().numTensors;
  assert.equal(resultOf(t).data['text/plain'], t.toString());
  assert.match(String(resultOf(t).data['text/plain']), /\[\[1, 2\],\s*\[3, 4\]\]/);
  assert.equal(tf.memory().numTensors, before);
  t.dispose();
  assert.equal(resultOf(t).data['text/plain'], 'Tensor (disposed) shape=[2, 2] dtype=float32');
});

test('the display hook lives at Symbol.for("transfusion.kernel") and writes to the current sink', () => {
  const written: [DisplayContent, boolean][] = [];
  let sink: ((c: DisplayContent, u: boolean) => void) | null = null;
  const hook = installDisplayHook(() => sink);
  assert.equal((globalThis as { [KERNEL_HOOK]?: KernelHook })[KERNEL_HOOK], hook);
  assert.equal(Symbol.for('transfusion.kernel'), KERNEL_HOOK);

  assert.throws(() => hook.display({ data: { 'text/plain': 'x' } }), /before any cell ran/);
  sink = (c, u) => written.push([c, u]);
  hook.display({ data: { 'text/html': '<i>1</i>' }, metadata: { 'text/html': { isolated: true } } }, { displayId: 'loss' });
  hook.display({ data: { 'text/plain': '2' } }, { displayId: 'loss', update: true });
  hook.display({ data: { 'text/plain': 'plain' } });
  assert.deepEqual(written, [
    [{ data: { 'text/html': '<i>1</i>', 'text/plain': '<display: text/html>' }, metadata: { 'text/html': { isolated: true } }, transient: { display_id: 'loss' } }, false],
    [{ data: { 'text/plain': '2' }, metadata: {}, transient: { display_id: 'loss' } }, true],
    [{ data: { 'text/plain': 'plain' }, metadata: {}, transient: {} }, false],
  ]);
  assert.throws(() => hook.display({ data: {} }, { update: true }), /needs opts\.displayId/);
  assert.equal(written.length, 3);
});
