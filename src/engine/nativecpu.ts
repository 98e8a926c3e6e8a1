/**
 * The `nativecpu` tfjs backend: the pure-JS cpu backend with its hot kernels replaced by a C++ addon
 * (native/) that runs on the tensors' Float32Arrays in place, on every core, with matrix products on
 * OpenBLAS. Measured on a 2-core EPYC (one core): 512^3 matmul ~0.4-0.75 GFLOP/s on `cpu`, ~100 on
 * `nativecpu` (bench/kernels.ts).
 *
 * How it is built: a subclass of MathBackendCPU (nativecpuBackend.ts: storage, reads and every kernel it
 * does not replace are the cpu backend's, plus a pool that recycles output buffers), all cpu kernels
 * copied under the new name, then the replacements registered over them. Gradients are registered per
 * kernel name, not per backend, so autodiff is the same on both backends. The name has no underscore
 * because tfjs splits kernel keys on '_'. Threads: TRANSFUSION_THREADS, default every available core.
 */
import * as os from 'node:os';
import { tf } from './tf';
import { AddonLoad, NativeAddon, loadAddon } from './nativecpuAddon';
import { NativeCpuBackend } from './nativecpuBackend';
import { ELEMENTWISE_KERNELS } from './nativecpuElementwise';
import { KernelArgs, KernelTable } from './nativecpuKernel';
import { LAYOUT_KERNELS } from './nativecpuLayout';
import { MATMUL_KERNELS } from './nativecpuMatmul';
import { registerFusedKernels } from './nativecpuFused';

export const NATIVECPU = 'nativecpu';

/** Every kernel the addon replaces, by tfjs kernel name. */
export const NATIVE_KERNELS: KernelTable = { ...MATMUL_KERNELS, ...ELEMENTWISE_KERNELS, ...LAYOUT_KERNELS };

export type NativeCpuStatus =
  | { readonly ok: true; readonly threads: number; readonly blasCore: string; readonly addonPath: string }
  | { readonly ok: false; readonly why: string };

let registered: NativeCpuStatus | null = null;

/**
 * Registers the `nativecpu` backend and its kernels (once per process) if the addon loads, without
 * switching to it. Returns why not otherwise; never throws for a missing or broken build (only for a bad
 * TRANSFUSION_THREADS).
 */
export function registerNativeCpu(): NativeCpuStatus {
  if (registered) return registered;
  const load: AddonLoad = loadAddon();
  if (!load.ok) {
    registered = { ok: false, why: load.why };
    return registered;
  }
  const { addon } = load;
  addon.setThreads(threadSetting());
  tf.registerBackend(NATIVECPU, () => {
    const backend = new NativeCpuBackend();
    // Like tf.ts does for `cpu`: the engine line already says which backend runs, so no tfjs-node banner.
    (backend as unknown as { firstUse: boolean }).firstUse = false;
    return backend;
  }, 1);
  tf.copyRegisteredKernels('cpu', NATIVECPU);
  for (const [name, kernel] of Object.entries(NATIVE_KERNELS)) replaceKernel(addon, name, kernel);
  registerFusedKernels(NATIVECPU, addon);
  registered = { ok: true, threads: addon.threads(), blasCore: load.blasCore, addonPath: load.path };
  return registered;
}

/**
 * Threads for the addon's pool: TRANSFUSION_THREADS, else every core this process may use. A bad value is
 * a configuration error, thrown (not a reason to fall back to another backend).
 */
function threadSetting(): number {
  const setting = process.env.TRANSFUSION_THREADS;
  if (setting === undefined || setting === '') return os.availableParallelism();
  const n = Number(setting);
  if (!Number.isInteger(n) || n < 1) throw new Error(`TRANSFUSION_THREADS=${JSON.stringify(setting)} is not a thread count; allowed: an integer >= 1`);
  return n;
}

function replaceKernel(addon: NativeAddon, name: string, kernel: KernelTable[string]): void {
  const cpuKernel = tf.getKernel(name, 'cpu');
  if (!cpuKernel) throw new Error(`nativecpu: tfjs has no cpu kernel '${name}' to replace`);
  const cpu = cpuKernel.kernelFunc;
  tf.unregisterKernel(name, NATIVECPU);
  tf.registerKernel({
    kernelName: name,
    backendName: NATIVECPU,
    kernelFunc: (params) => {
      const args = params as unknown as KernelArgs;
      return kernel(args, addon, () => cpu(params));
    },
  });
}

/** The addon's thread count (the JS thread included), or null when the backend is not available. */
export function nativeCpuThreads(): number | null {
  const status = registerNativeCpu();
  return status.ok ? status.threads : null;
}

/** The loaded addon, for code that calls it outside a kernel (the fused AdamW, src/engine/fused.ts); null if absent. */
export function nativeCpuAddon(): NativeAddon | null {
  const status = registerNativeCpu();
  if (!status.ok) return null;
  const load = loadAddon();
  return load.ok ? load.addon : null;
}

/** Sets the addon's thread count (>= 1); e.g. 1 to compare single-threaded speed. */
export function setNativeCpuThreads(n: number): void {
  const load = loadAddon();
  if (!load.ok) throw new Error(`nativecpu is not available: ${load.why}`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`setNativeCpuThreads: threads must be an integer >= 1, got ${n}`);
  load.addon.setThreads(n);
  registered = registered?.ok ? { ...registered, threads: n } : registered;
}
