/**
 * The kernelspec that tells Jupyter how to start the lab's kernel, and its installation into the user's
 * Jupyter data folder (`jupyter kernelspec install --user`, so no root is needed and `JUPYTER_DATA_DIR` is
 * honoured).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const KERNEL_NAME = 'transfusion';
export const DISPLAY_NAME = 'Transfusion Lab (TypeScript)';

/** kernel.json, https://jupyter-client.readthedocs.io/en/latest/kernels.html#kernel-specs */
export interface KernelSpec {
  /** Absolute node, absolute launcher, and Jupyter's placeholder for the connection file. */
  readonly argv: readonly string[];
  readonly display_name: string;
  readonly language: 'typescript';
  /** SIGINT, which the kernel turns into the lab's cooperative interrupt (src/engine/interrupt.ts). */
  readonly interrupt_mode: 'signal';
}

/** The launcher that a built lab has: `<root>/dist/kernel/launch.js`. */
export function launcherPath(root: string): string {
  return path.join(root, 'dist', 'kernel', 'launch.js');
}

/**
 * The spec for `launcher`. Node is named by absolute path because Jupyter may start kernels with a PATH
 * that lacks the user's node (a desktop launcher, nvm in an interactive shell only).
 */
export function kernelSpec(launcher: string, node: string = process.execPath): KernelSpec {
  return {
    argv: [node, path.resolve(launcher), '{connection_file}'],
    display_name: DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'signal',
  };
}

/** Write `<dir>/kernel.json`; a folder Jupyter accepts as-is as `<jupyter path>/kernels/transfusion`. */
export function writeKernelSpec(dir: string, spec: KernelSpec): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'kernel.json'), `${JSON.stringify(spec, null, 2)}\n`);
  return dir;
}

/** Jupyter (or its kernelspec command) is not installed: the message is one sentence saying how to get it. */
export class JupyterMissingError extends Error {
  constructor(what: string) {
    super(
      `${what}: install Jupyter with \`sudo apt-get install jupyter-notebook\` (Debian, Ubuntu) or \`pip install notebook\`, ` +
        'then run `npm run kernel:install` again.',
    );
    this.name = 'JupyterMissingError';
  }
}

/** The `jupyter` command: $JUPYTER when set (a venv's jupyter, say), else `jupyter` on PATH. */
export function jupyterCommand(): string {
  return process.env.JUPYTER || 'jupyter';
}

/** Install the spec for `launcher` as the user's `transfusion` kernel, replacing an older one. */
export function installKernelSpec(launcher: string, jupyter: string = jupyterCommand()): void {
  if (!fs.existsSync(launcher)) throw new Error(`the kernel launcher ${launcher} does not exist: run \`npm run build\` first`);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'transfusion-kernelspec-'));
  try {
    const dir = writeKernelSpec(path.join(staging, KERNEL_NAME), kernelSpec(launcher));
    const run = spawnSync(jupyter, ['kernelspec', 'install', '--user', '--replace', '--name', KERNEL_NAME, dir], { encoding: 'utf8' });
    if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new JupyterMissingError(`Jupyter was not found (no \`${jupyter}\` command)`);
    if (run.error) throw run.error;
    if (run.status !== 0) {
      if (/is not a Jupyter command/.test(run.stderr)) throw new JupyterMissingError(`\`${jupyter}\` has no kernelspec command (jupyter_client is missing)`);
      throw new Error(`\`${jupyter} kernelspec install\` failed (exit ${run.status}): ${run.stderr.trim()}`);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
