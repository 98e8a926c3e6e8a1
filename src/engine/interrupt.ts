/**
 * A cooperative interrupt: the kernel raises it on SIGINT (Jupyter's `interrupt_mode: signal`), long loops
 * poll it between steps and stop cleanly, so the state they built stays usable in the next cell.
 *
 * Why cooperative: a training step is synchronous tensor work that a signal cannot safely cut in half (tfjs
 * would leak the step's tensors and the optimiser could be left half-updated). A loop that awaits
 * `setImmediate` once per step lets the signal handler run; the next `interruptRequested()` sees the flag.
 *
 * The flag lives on `globalThis` under a registered symbol, not in this module, so every copy of the lab
 * loaded in one process (the kernel's preload, a notebook that imports the sources, a test) sees the same
 * request.
 */

interface InterruptState {
  requested: boolean;
}

const KEY = Symbol.for('transfusion.interrupt');

function state(): InterruptState {
  const g = globalThis as { [KEY]?: InterruptState };
  return (g[KEY] ??= { requested: false });
}

/** True once an interrupt was requested and not yet cleared; poll it between steps. */
export function interruptRequested(): boolean {
  return state().requested;
}

/** Raise the interrupt. The kernel calls this from its SIGINT handler; a notebook may call it to stop a loop. */
export function requestInterrupt(): void {
  state().requested = true;
}

/** Lower the interrupt. The kernel calls this at the start of every execute request. */
export function clearInterrupt(): void {
  state().requested = false;
}
