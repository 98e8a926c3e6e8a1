/**
 * The tensor engine: picks the tfjs backend once per process and says in one line which one, on which
 * device, and why.
 *
 * Order, unless TRANSFUSION_BACKEND (or `initEngine({ backend })`) forces one:
 *   1. `tensorflow`: @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, when the user installed one and it loads
 *      (opt-in: their install step downloads libtensorflow, so they are never a dependency of the lab);
 *   2. `nativecpu`: the cpu backend with its hot kernels in the lab's own C++ addon (native/, OpenBLAS, all
 *      cores), when `npm install` managed to build it (it needs g++ and libopenblas-dev);
 *   3. `wasm`: @tensorflow/tfjs-backend-wasm (single-threaded under Node);
 *   4. `cpu`: tfjs's pure-JavaScript kernels, always available.
 */
import { BUILD_HINT } from './nativecpuAddon';
import { NATIVECPU, registerNativeCpu } from './nativecpu';
import { tf } from './tf';

export type BackendName = 'tensorflow' | 'nativecpu' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'nativecpu', 'wasm', 'cpu'];

export interface EngineInfo {
  readonly backend: BackendName;
  /** Human-readable device, e.g. 'CPU (2 cores, pure JS)' or 'GPU (CUDA, via libtensorflow)'. */
  readonly device: string;
  /** Why this backend: forced, or first available, with what was skipped and why. */
  readonly reason: string;
  /** The one-line report: `engine: <backend> on <device> (<reason>)`. */
  readonly line: string;
}

/** Forcing a backend that cannot be used: says which, why, and how to get it. */
export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

const INSTALL_HINT: Record<BackendName, string> = {
  tensorflow:
    'install it with `npm install @tensorflow/tfjs-node-gpu` (CUDA machine) or `npm install @tensorflow/tfjs-node` (CPU); ' +
    'their install step downloads libtensorflow, so it needs network access to storage.googleapis.com',
  nativecpu: BUILD_HINT,
  wasm: 'it ships with the lab as @tensorflow/tfjs-backend-wasm: run `npm ci` to restore it',
  cpu: 'it ships with the lab as @tensorflow/tfjs-backend-cpu: run `npm ci` to restore it',
};

interface Attempt {
  ok: boolean;
  device: string;
  why: string;
}

function os(): { cores: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return { cores: require('node:os').cpus().length };
}

async function tryTensorflow(): Promise<Attempt> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg);
    } catch {
      errors.push(`${pkg} not installed`);
      continue;
    }
    try {
      require(pkg);
      if (!(await tf.setBackend('tensorflow'))) throw new Error('setBackend returned false');
      const gpu = pkg.endsWith('-gpu');
      return { ok: true, device: gpu ? 'GPU (CUDA, via libtensorflow)' : `CPU (${os().cores} cores, via libtensorflow)`, why: `${pkg} loaded` };
    } catch (e) {
      errors.push(`${pkg} failed to load: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { ok: false, device: '', why: errors.join('; ') };
}

async function tryNativecpu(): Promise<Attempt> {
  const status = registerNativeCpu();
  if (!status.ok) return { ok: false, device: '', why: `nativecpu unavailable: ${status.why}` };
  try {
    if (!(await tf.setBackend(NATIVECPU))) throw new Error('setBackend returned false');
  } catch (e) {
    return { ok: false, device: '', why: `nativecpu failed: ${(e as Error).message.split('\n')[0]}` };
  }
  const blas = status.blasCore === 'auto' ? 'OpenBLAS' : `OpenBLAS ${status.blasCore} kernels`;
  const threads = status.threads === 1 ? '1 thread' : `${status.threads} threads`;
  return { ok: true, device: `CPU (${threads}, native kernels + ${blas})`, why: 'nativecpu addon loaded' };
}

async function tryWasm(): Promise<Attempt> {
  try {
    require('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) throw new Error('setBackend returned false');
    return { ok: true, device: 'CPU (1 thread, WebAssembly SIMD)', why: 'tfjs-backend-wasm loaded' };
  } catch (e) {
    return { ok: false, device: '', why: `wasm failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

async function tryCpu(): Promise<Attempt> {
  await tf.setBackend('cpu');
  return { ok: true, device: `CPU (1 thread, pure JavaScript)`, why: 'always available' };
}

const TRIES: Record<BackendName, () => Promise<Attempt>> = {
  tensorflow: tryTensorflow,
  nativecpu: tryNativecpu,
  wasm: tryWasm,
  cpu: tryCpu,
};

let current: EngineInfo | null = null;

function parseForced(value: string | undefined, field: string): BackendName | undefined {
  if (value === undefined || value === '' || value === 'auto') return undefined;
  if (!(BACKENDS as readonly string[]).includes(value)) {
    throw new EngineError(`${field}=${JSON.stringify(value)} is not a backend; allowed: ${BACKENDS.join(', ')} (or auto)`);
  }
  return value as BackendName;
}

/**
 * Pick and initialise the backend. Idempotent: later calls return the first choice, unless a different
 * backend is forced explicitly (useful in tests that run every backend).
 */
export async function initEngine(options: { backend?: BackendName | 'auto' } = {}): Promise<EngineInfo> {
  const forced = options.backend !== undefined
    ? parseForced(options.backend, 'initEngine({ backend })')
    : parseForced(process.env.TRANSFUSION_BACKEND, 'TRANSFUSION_BACKEND');
  if (current && (forced === undefined || forced === current.backend)) return current;

  let info: EngineInfo;
  if (forced) {
    const a = await TRIES[forced]();
    if (!a.ok) throw new EngineError(`backend '${forced}' was forced but is not available (${a.why}); ${INSTALL_HINT[forced]}`);
    info = make(forced, a.device, `forced by ${options.backend ? 'initEngine' : 'TRANSFUSION_BACKEND'}; ${a.why}`);
  } else {
    const skipped: string[] = [];
    let chosen: EngineInfo | null = null;
    for (const name of BACKENDS) {
      const a = await TRIES[name]();
      if (a.ok) {
        chosen = make(name, a.device, skipped.length ? `first available; skipped: ${skipped.join('; ')}` : `first available; ${a.why}`);
        break;
      }
      // Backends that ship with the lab say how to repair them; tensorflow is opt-in, so its absence is normal.
      skipped.push(name === 'tensorflow' ? a.why : `${a.why} (fix: ${INSTALL_HINT[name]})`);
    }
    info = chosen!;
  }
  await tf.ready();
  current = info;
  return info;
}

function make(backend: BackendName, device: string, reason: string): EngineInfo {
  return { backend, device, reason, line: `engine: ${backend} on ${device} (${reason})` };
}

/** The engine chosen so far, or null before `initEngine`. */
export function engineInfo(): EngineInfo | null {
  return current;
}
