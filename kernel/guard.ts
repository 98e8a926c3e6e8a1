/**
 * Cells run inside the kernel's own process (tslab runs them with `vm.runInThisContext`), so anything that
 * ends that process ends the session: every variable is lost and the cell that did it never gets a reply.
 * Once the kernel has started (launch.ts), the guard keeps the process alive for the kernel to end alone:
 * - `process.exit()`, `process.abort()` and a `process.kill()` that would end this process throw a
 *   KernelExitError instead. Called in a cell, that error fails the cell. The message says to restart the kernel;
 * - an exception nobody catches (thrown in a timer or callback) and a promise rejection nobody handles are
 *   written to the stderr of the cell that ran last. They do not end the process.
 * The kernel's own ways out (shutdown_request, a failed start) go through `exitKernel`.
 */
import { constants } from 'node:os';
import { format } from 'node:util';
import { cellTraceback } from './handler';

// Taken when this module loads, before the guard replaces them.
const exit = process.exit.bind(process);
const kill = process.kill.bind(process);

const RESTART_HINT =
  'it would end the kernel and lose every variable of this session. To start over, restart the kernel instead ' +
  '(Kernel > Restart in Jupyter, or restart_kernel() in jupyter_client).';

/** A cell tried to end the kernel's process. */
export class KernelExitError extends Error {
  constructor(call: string, caller: (...args: never[]) => unknown) {
    super(`${call} is not allowed in a cell: ${RESTART_HINT}`);
    this.name = 'KernelExitError';
    // The guard's own frame is the same for every such call; the traceback starts at the cell's call.
    Error.captureStackTrace(this, caller);
  }
}

/** End the kernel's process. Only the kernel calls this: its shutdown path and a start-up failure. */
export function exitKernel(code: number): never {
  return exit(code);
}

/**
 * Signals that do not end the kernel: SIGINT is its interrupt (handled by the kernel, or by Node's vm while a
 * cell's synchronous part runs, when the kernel's listener is briefly detached); the others' default action
 * leaves the process running (SIGUSR1 opens Node's inspector).
 */
const SURVIVABLE = new Set(['SIGINT', 'SIGCHLD', 'SIGCONT', 'SIGURG', 'SIGWINCH', 'SIGUSR1']);

/** Whether `process.kill(pid, signal)` would end this process. */
function endsKernel(pid: number, signal: string | number = 'SIGTERM'): boolean {
  // 0 and -pid reach this process's group (jupyter_client starts kernels as group leaders), -1 every process.
  if (![process.pid, -process.pid, 0, -1].includes(Number(pid)) || signal === 0) return false;
  const name = typeof signal === 'number' ? Object.keys(constants.signals).find((n) => constants.signals[n as keyof typeof constants.signals] === signal) : signal;
  if (name === undefined) return false;
  // A signal that a cell or a library listens for is handled, not fatal.
  return !SURVIVABLE.has(name) && process.listenerCount(name as NodeJS.Signals) === 0;
}

/** What an uncaught value looks like in a cell's stderr; never throws (an exotic value must not get past the guard). */
function describe(e: unknown): string {
  try {
    return e instanceof Error ? cellTraceback(e).join('\n') : format('%O', e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}

function report(what: string, e: unknown): void {
  process.stderr.write(`${what} (the kernel keeps running): ${describe(e)}\n`);
}

/** Install the guard; once, after the kernel has loaded what it preloads. */
export function guardProcess(): void {
  process.exit = function exitInCell(code?: number | string | null): never {
    throw new KernelExitError(`process.exit(${code ?? ''})`, exitInCell);
  };
  process.abort = function abortInCell(): never {
    throw new KernelExitError('process.abort()', abortInCell);
  };
  process.kill = function killInCell(pid: number, signal?: string | number): true {
    if (endsKernel(pid, signal)) throw new KernelExitError(`process.kill(${pid}, ${format('%o', signal ?? 'SIGTERM')})`, killInCell);
    return kill(pid, signal);
  };
  // Node calls this instead of emitting 'uncaughtException', whose listeners could rethrow and end the process.
  process.setUncaughtExceptionCaptureCallback((e) => report('Uncaught exception', e));
  // tfjs-backend-wasm (Emscripten) installs a listener that rethrows every rejection, ending the process; the
  // capture above would still catch the rethrow, but as an "uncaught exception" that hides where it came from.
  process.removeAllListeners('unhandledRejection');
  process.on('unhandledRejection', (reason) => report('Unhandled promise rejection', reason));
}
