/**
 * `display()` and `updateDisplay()`: show a rich value now, in the middle of a cell, and replace it later
 * (a live progress line, a plot that grows while training runs).
 *
 * Inside the lab's Jupyter kernel (kernel/) the kernel installs a hook under
 * `Symbol.for('transfusion.kernel')`; each call becomes a `display_data` message, or an `update_display_data`
 * message when `update` is set, so Jupyter replaces the output carrying the same display id in place.
 * Outside a kernel (a plain node script, CI, tests) there is no frontend to draw on, so `display()` prints the
 * bundle's `text/plain` and updates print nothing: a log keeps one line per display instead of every refresh.
 */
import { ConfigError } from '../config';
import { hasMimeBundle, type HasMimeBundle, type MimeBundle } from './mime';

/** What the kernel hook accepts with a bundle: `displayId` names the output, `update` replaces it in place. */
export interface KernelDisplayOptions {
  readonly displayId?: string;
  readonly update?: boolean;
}

/** The hook the kernel installs at `globalThis[Symbol.for('transfusion.kernel')]`; tests install a fake one. */
export interface KernelHook {
  display(bundle: MimeBundle, opts?: KernelDisplayOptions): void;
  /** Clear the current cell's output area (Jupyter's clear_output); `wait` defers it to the next output. */
  clearOutput?(wait: boolean): void;
  /**
   * Whether the output being made now should carry the page-wide `resource` (plotly.js): true for the first one
   * since the cell holding it last was re-run, so a saved notebook keeps exactly one copy. `force` claims it anyway.
   */
  carry?(resource: string, force: boolean): boolean;
}

/** The global symbol the kernel hook lives under (Symbol.for, so every copy of this module finds the same one). */
export const KERNEL_HOOK = Symbol.for('transfusion.kernel');

/** The kernel hook when this code runs inside the lab's kernel, else undefined. */
export function kernelHook(): KernelHook | undefined {
  const hook = (globalThis as Record<symbol, unknown>)[KERNEL_HOOK];
  return typeof hook === 'object' && hook !== null && typeof (hook as KernelHook).display === 'function'
    ? (hook as KernelHook)
    : undefined;
}

/** True inside the lab's kernel, where displays are drawn; false in a plain node process. */
export function inKernel(): boolean {
  return kernelHook() !== undefined;
}

/** A value `display()` accepts: any object with `toMimeBundle()`, or a bundle itself. */
export type Displayable = HasMimeBundle | MimeBundle;

/** A shown output; `update()` replaces it in place. */
export interface DisplayHandle {
  readonly displayId: string;
  update(value: Displayable): void;
}

/**
 * Marks a value that is already on the page: a cell ending in `display(x)` has shown `x`, and echoing the
 * handle as the cell's result would only add `{ displayId, update }` under it.
 */
export const SHOWN = Symbol.for('transfusion.shown');

/** True for a value that `display()` returned (see SHOWN). */
export function alreadyShown(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { [SHOWN]?: unknown })[SHOWN] === true;
}

// Ids must not collide with outputs of an earlier kernel still on the page (a notebook re-run after a
// restart keeps the other cells' old outputs), so a per-process token prefixes a counter. This is not an
// experiment draw, so it does not go through the seeded Rng.
const processToken = `${process.pid.toString(36)}${Date.now().toString(36)}`;
let displayCounter = 0;

/** A fresh display id, unique across kernels sharing a page. */
export function newDisplayId(prefix = 'display'): string {
  displayCounter += 1;
  return `${prefix}-${processToken}-${displayCounter}`;
}

/** The output a bundle is being made for, while display() or updateDisplay() asks for it. */
export interface OutputTarget {
  readonly displayId: string;
  readonly update: boolean;
}

let making: OutputTarget | null = null;

/**
 * The output the bundle being made now is for, or null (a cell's result). A figure needs it: an update replaces
 * the whole output, so it must carry plotly.js again exactly when the output it replaces did.
 */
export function outputBeingMade(): OutputTarget | null {
  return making;
}

function bundleFor(value: Displayable, target: OutputTarget, what: string): MimeBundle {
  making = target;
  try {
    return toBundle(value, what);
  } finally {
    making = null;
  }
}

/** Show `value` now. Returns a handle whose `update()` replaces this output (update_display_data). */
export function display(value: Displayable, opts: { readonly displayId?: string } = {}): DisplayHandle {
  const displayId = opts.displayId ?? newDisplayId();
  send(bundleFor(value, { displayId, update: false }, 'display(value)'), { displayId });
  const handle = { displayId, update: (next: Displayable) => updateDisplay(displayId, next) };
  Object.defineProperty(handle, SHOWN, { value: true });
  return handle;
}

/** Replace the output shown under `displayId` with `value`; outside a kernel this prints nothing. */
export function updateDisplay(displayId: string, value: Displayable): void {
  send(bundleFor(value, { displayId, update: true }, 'updateDisplay(id, value)'), { displayId, update: true });
}

/**
 * Clear this cell's output so far (a live readout redrawn from scratch). With `wait`, the old output stays until
 * the next one arrives, so redrawing in a loop does not flicker. Outside a kernel there is nothing to clear.
 */
export function clearOutput(opts: { readonly wait?: boolean } = {}): void {
  kernelHook()?.clearOutput?.(opts.wait ?? false);
}

function send(bundle: MimeBundle, opts: KernelDisplayOptions): void {
  const hook = kernelHook();
  if (hook) {
    hook.display(bundle, opts);
    return;
  }
  if (opts.update) return;
  process.stdout.write(plainText(bundle) + '\n');
}

/** The bundle's `text/plain`, or a line naming what it holds when it has none. */
export function plainText(bundle: MimeBundle): string {
  const text = bundle.data['text/plain'];
  if (typeof text === 'string') return text;
  return `<display: ${Object.keys(bundle.data).join(', ') || 'empty bundle'}>`;
}

function isMimeBundle(value: unknown): value is MimeBundle {
  if (typeof value !== 'object' || value === null) return false;
  const data = (value as { data?: unknown }).data;
  return typeof data === 'object' && data !== null && !Array.isArray(data);
}

function toBundle(value: Displayable, what: string): MimeBundle {
  if (hasMimeBundle(value)) return value.toMimeBundle();
  if (isMimeBundle(value)) return value;
  throw new ConfigError(what, value, 'an object with toMimeBundle() or a MIME bundle { data }');
}
