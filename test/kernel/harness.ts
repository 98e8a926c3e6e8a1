/**
 * Shared by the kernel tests: the lab's root, an up-to-date build (the kernel runs from dist/), a private
 * Jupyter path holding the kernelspec of that build (so tests never touch the user's installed kernels),
 * and Jupyter's Python (/usr/bin/python3: Debian's packages; a pyenv `python3` on PATH may lack them).
 */
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kernelSpec, KERNEL_NAME, launcherPath, writeKernelSpec } from '../../kernel/kernelspec';
import { findLabRoot } from '../../kernel/resolve';

export const ROOT = findLabRoot(__dirname);
export const PYTHON = '/usr/bin/python3';
/**
 * The kernel under test: this checkout's dist/ build, or the launcher TRANSFUSION_KERNEL_LAUNCHER names (a
 * build kept elsewhere, in a folder that also holds the lab's package.json and node_modules, as dist/'s parent
 * does), so a test can run a build of its own without touching the shared dist/.
 */
export const LAUNCHER = process.env.TRANSFUSION_KERNEL_LAUNCHER ? path.resolve(process.env.TRANSFUSION_KERNEL_LAUNCHER) : launcherPath(ROOT);

/**
 * What the kernel tests run from dist/: the kernel and the lab files it imports. The rest of the lab may
 * lag behind (other work in progress must not force a rebuild on every run of these tests).
 */
const KERNEL_SOURCES = ['kernel', 'src/engine/engine.ts', 'src/engine/tf.ts', 'src/engine/interrupt.ts', 'src/viz/mime.ts', 'src/viz/display.ts', 'src/viz/figure.ts', 'src/index.ts'];

function newestSource(p: string): number {
  const stat = fs.statSync(p);
  if (!stat.isDirectory()) return p.endsWith('.ts') ? stat.mtimeMs : 0;
  return Math.max(0, ...fs.readdirSync(p).map((name) => newestSource(path.join(p, name))));
}

/**
 * Build with the project's tsc when the kernel's sources changed since the last build (under `npm test`
 * the build is fresh and this costs nothing). tsc still emits when another file has a type error, so the
 * build counts as done when the launcher is newer than every kernel source.
 */
export function ensureBuilt(): void {
  if (process.env.TRANSFUSION_KERNEL_LAUNCHER) {
    if (!fs.existsSync(LAUNCHER)) throw new Error(`TRANSFUSION_KERNEL_LAUNCHER names ${LAUNCHER}, which does not exist`);
    return;
  }
  const sources = Math.max(...KERNEL_SOURCES.map((p) => newestSource(path.join(ROOT, p))));
  const built = (): boolean => fs.existsSync(LAUNCHER) && fs.statSync(LAUNCHER).mtimeMs >= sources;
  if (built()) return;
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT });
  if (!built()) throw new Error(`the build did not produce a fresh ${LAUNCHER}:\n${tsc.stdout}${tsc.stderr}`);
}

/**
 * Run `fn` with an environment for Jupyter processes whose Jupyter path holds this build's `transfusion`
 * kernelspec (and whose data and runtime folders are private too); the folders are removed afterwards.
 */
export function withJupyter<T>(fn: (env: NodeJS.ProcessEnv) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'transfusion-jupyter-'));
  writeKernelSpec(path.join(dir, 'share', 'kernels', KERNEL_NAME), kernelSpec(LAUNCHER));
  try {
    return fn({
      ...process.env,
      JUPYTER_PATH: path.join(dir, 'share'),
      JUPYTER_RUNTIME_DIR: path.join(dir, 'runtime'),
      JUPYTER_DATA_DIR: path.join(dir, 'data'),
      // Debian's Python 3.11 prints a debugger warning on every Jupyter start; it is noise in test logs.
      PYDEVD_DISABLE_FILE_VALIDATION: '1',
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Run Jupyter's Python; fails with the Debian packages to install when it is missing. */
export function python(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(`${PYTHON} is missing: install python3 jupyter-client python3-jupyter-kernel-test (Debian) to run the kernel tests`);
  }
  return spawnSync(PYTHON, args, { encoding: 'utf8', cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs });
}

export interface UnittestSummary {
  readonly ran: number;
  readonly skipped: number;
  readonly ok: boolean;
  /** unittest's report: per-test lines and the final summary. */
  readonly report: string;
}

/** Run `python -m unittest -v <module>` in `cwd` and read its summary. */
export function unittest(cwd: string, module: string, env: NodeJS.ProcessEnv, timeoutMs: number): UnittestSummary {
  const run = python(['-m', 'unittest', '-v', module], { cwd, env, timeoutMs });
  const report = `${run.stdout}${run.stderr}`;
  if (/No module named '?(jupyter_kernel_test|jupyter_client)/.test(report)) {
    throw new Error(`${PYTHON} lacks Jupyter's test packages: install jupyter-client python3-jupyter-kernel-test (Debian)\n${report}`);
  }
  const ran = Number(/^Ran (\d+) tests?/m.exec(report)?.[1] ?? 0);
  const skipped = Number(/skipped=(\d+)/.exec(/^(OK|FAILED).*$/m.exec(report)?.[0] ?? '')?.[1] ?? 0);
  return { ran, skipped, ok: run.status === 0 && /^OK/m.test(report), report };
}
