/**
 * What a value looks like in a notebook, and the hook through which the lab's `display()` reaches the kernel.
 *
 * A cell's last value becomes an `execute_result`: objects with `toMimeBundle()` (src/viz/mime.ts) give
 * their own bundle, tensors their values as PyTorch prints them (also through console.log, see
 * installTensorInspect), anything else its `util.inspect` text, like a REPL. Jupyter asks
 * every bundle for a text/plain member (it is what a terminal, a diff or nbconvert's text export shows), so
 * one is added when a bundle has none.
 */
import { inspect } from 'node:util';
import { tf } from '../src/engine/tf';
import { hasMimeBundle, MimeBundle } from '../src/viz/mime';
import { KERNEL_HOOK, type KernelDisplayOptions, type KernelHook as VizKernelHook } from '../src/viz/display';
import { DisplayContent } from './protocol';

// The hook's contract lives with the code that calls it (src/viz/display.ts), since src/ never imports kernel/;
// the kernel's own hook implements every method, where a test's fake may leave some out.
export { KERNEL_HOOK };
export type KernelHook = Required<VizKernelHook>;

/** Where displayed content goes: the outputs of the cell that ran last (as ipykernel does for late output). */
export type DisplaySink = (content: DisplayContent, update: boolean) => void;

/** The output area of the cell that ran last: displays, and Jupyter's clear_output. */
export interface OutputArea {
  readonly display: DisplaySink;
  clear(wait: boolean): void;
}

/** Decides which output carries a page-wide resource (plotly.js); see LabHandler.carry. */
export type Carrier = (resource: string, force: boolean) => boolean;

/** A bundle's data as Jupyter JSON: byte arrays (an encoded PNG, say) become the base64 text Jupyter expects. */
function jupyterData(data: MimeBundle['data']): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [mime, value] of Object.entries(data)) out[mime] = value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value;
  return out;
}

/**
 * A tensor the way PyTorch prints one, `tensor([[1, 2], ...], shape=[2, 2], dtype=float32)`, plus the shape, which
 * an abbreviated tensor no longer shows. The values are tfjs's own formatting, which keeps the first and last
 * three entries of an axis longer than 20.
 */
export function tensorText(t: tf.Tensor): string {
  const tail = `shape=[${t.shape.join(', ')}], dtype=${t.dtype})`;
  if (t.isDisposed) return `tensor(<disposed>, ${tail}`;
  // tfjs writes a 'Tensor' line, then the values indented by four spaces.
  const values = t.toString().split('\n').slice(1).map((l) => l.slice(4));
  return `tensor(${values.map((l, i) => (i === 0 || l === '' ? l : `       ${l}`)).join('\n')}, ${tail}`;
}

/** console.log and util.inspect show tensors as tensorText does, not as tfjs's internal fields. */
export function installTensorInspect(): void {
  Object.defineProperty(tf.Tensor.prototype, inspect.custom, {
    configurable: true,
    value(this: tf.Tensor): string {
      return tensorText(this);
    },
  });
}

function plainText(value: unknown): string {
  return value instanceof tf.Tensor ? tensorText(value) : inspect(value);
}

/**
 * The display content of a bundle. A missing text/plain says what the rich output is, `<Plot: text/html>`:
 * inspecting the object instead would dump its data arrays into every text view.
 */
export function contentOf(bundle: MimeBundle, label: string, displayId?: string): DisplayContent {
  const data = jupyterData(bundle.data);
  if (!('text/plain' in data)) data['text/plain'] = `<${label}: ${Object.keys(data).join(', ')}>`;
  return { data, metadata: { ...(bundle.metadata ?? {}) }, transient: displayId === undefined ? {} : { display_id: displayId } };
}

/** The `execute_result` content of a cell's last value. */
export function resultOf(value: unknown): DisplayContent {
  if (hasMimeBundle(value)) return contentOf(value.toMimeBundle(), value.constructor?.name || 'object');
  return { data: { 'text/plain': plainText(value) }, metadata: {}, transient: {} };
}

/**
 * Publish the hook. `area()` returns where output goes now, or null before the first cell ran (there is no
 * cell to show it in then, so `display()` says so rather than dropping the output).
 */
export function installDisplayHook(area: () => OutputArea | null, carry: Carrier): KernelHook {
  const current = (what: string): OutputArea => {
    const out = area();
    if (!out) throw new Error(`${what} was called before any cell ran: there is no output area to show it in`);
    return out;
  };
  const hook: KernelHook = {
    display(bundle: MimeBundle, opts: KernelDisplayOptions = {}): void {
      if (opts.update && opts.displayId === undefined) {
        throw new Error('display(bundle, { update: true }) needs opts.displayId: the id of the output to replace');
      }
      current('display()').display(contentOf(bundle, 'display', opts.displayId), opts.update ?? false);
    },
    clearOutput(wait: boolean): void {
      current('clearOutput()').clear(wait);
    },
    carry,
  };
  (globalThis as { [KERNEL_HOOK]?: KernelHook })[KERNEL_HOOK] = hook;
  return hook;
}
