/**
 * Where a run came from, recorded beside its results so a number in a table can be traced back: the tensor
 * engine, the versions of the packages that compute, the Node runtime, and the git commit of the code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { engineInfo } from '../engine/engine';
import { version as labVersion } from '../../package.json';

/** Packages whose version can change a run's numbers or files; optional ones are null when not installed. */
export const RECORDED_PACKAGES: readonly string[] = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  'arquero',
  'plotly.js-dist-min',
  'seedrandom',
  'sharp',
  'typescript',
];

export interface Provenance {
  /** `engineInfo().line`, e.g. 'engine: nativecpu on CPU (...)'; null when no engine was initialised. */
  readonly engine: string | null;
  /** The lab's own version (package.json) and every RECORDED_PACKAGES version, null when absent. */
  readonly packages: Readonly<Record<string, string | null>>;
  /** `process.version`, platform, architecture and core count. */
  readonly runtime: { readonly node: string; readonly platform: string; readonly arch: string; readonly cpus: number };
  /** `git rev-parse HEAD` of the lab, and whether tracked files had uncommitted changes; null outside a repository. */
  readonly git: { readonly commit: string | null; readonly dirty: boolean | null };
}

function versionOf(pkg: string): string | null {
  // Node's own search path for `pkg`, read directly: packages with an `exports` map (arquero) refuse
  // `require('<pkg>/package.json')`.
  for (const folder of require.resolve.paths(pkg) ?? []) {
    const manifest = join(folder, pkg, 'package.json');
    if (existsSync(manifest)) return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version ?? null;
  }
  return null;
}

/** git run from this file's folder, which finds the lab's checkout from src/ or dist/src/ alike. */
function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: __dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Collect the provenance of a run starting now. */
export function provenance(): Provenance {
  const packages: Record<string, string | null> = { 'transfusion-lab': labVersion };
  for (const pkg of RECORDED_PACKAGES) packages[pkg] = versionOf(pkg);
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    engine: engineInfo()?.line ?? null,
    packages,
    runtime: { node: process.version, platform: process.platform, arch: process.arch, cpus: cpus().length },
    git: { commit, dirty: status === null ? null : status.length > 0 },
  };
}
