/**
 * `import { ... } from 'transfusion-lab'` in a cell, from a notebook in ANY folder: when Node runs the cell
 * and when tslab type-checks it.
 *
 * Run time. tslab's `require` resolves from the notebook's folder up, then through Node's global folders
 * (NODE_PATH). The lab's node_modules gets a link `transfusion-lab -> ..` (the layout npm workspaces use)
 * and the kernel appends that node_modules to NODE_PATH: the lab and its dependencies resolve from
 * anywhere, after any node_modules of the notebook's own. Node follows the link to the real path, so a
 * cell shares the module instances the kernel preloaded (one engine, one tfjs, one interrupt flag).
 *
 * Type check. tslab's compiler (TypeScript 5.0, `moduleResolution: node10`, options fixed inside tslab)
 * ignores NODE_PATH. Its file-system host forwards every probe to the `ts.sys` object of
 * @tslab/typescript-for-tslab, looked up at call time; tslab relies on that itself to fake
 * `<cwd>/node_modules/tslab`. We wrap the same probes so that the lab's node_modules also appears at the
 * filesystem root, `/node_modules`: the last folder node10 resolution visits, which is where NODE_PATH sits
 * in Node's order, so the checker finds what Node will load. Its `@types` become type roots there too, so
 * `console` and `process` type-check in a folder with no node_modules. `realpath` maps the forwarded files
 * to their real paths, so the checker, like Node, holds one copy of each declaration file.
 */
import * as fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import * as path from 'node:path';

import { findLabRoot, PACKAGE_NAME } from '../src/engine/root';

export { findLabRoot, PACKAGE_NAME };

/**
 * Make `<root>/node_modules/transfusion-lab` a link to the lab. Idempotent, and safe when two kernels
 * start at once; refuses to touch a real folder of that name.
 */
export function linkLab(root: string): string {
  const link = path.join(root, 'node_modules', PACKAGE_NAME);
  const target = '..';
  for (let attempt = 0; attempt < 2; attempt++) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.lstatSync(link);
    } catch {
      stat = undefined;
    }
    if (stat && !stat.isSymbolicLink()) throw new Error(`${link} exists and is not a link; remove it so the kernel can link the lab there`);
    if (stat && fs.readlinkSync(link) === target) return link;
    if (stat) fs.unlinkSync(link);
    try {
      fs.symlinkSync(target, link, 'dir');
      return link;
    } catch (e) {
      // Another kernel made it between our check and our symlink: look again.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return link;
}

/** Append `dir` to NODE_PATH for this process and its children. */
export function addNodePath(dir: string): void {
  const entries = (process.env.NODE_PATH ?? '').split(path.delimiter).filter((e) => e !== '');
  if (!entries.includes(dir)) process.env.NODE_PATH = [...entries, dir].join(path.delimiter);
  // Node reads NODE_PATH once at startup; _initPaths is its own (undocumented, long-stable) hook to re-read it.
  (Module as unknown as { _initPaths(): void })._initPaths();
}

type Probe = (p: string, ...rest: never[]) => unknown;
/** The probes module resolution and type-root discovery make; tslab's host reaches them all through ts.sys. */
const PROBES = ['fileExists', 'directoryExists', 'readFile', 'getDirectories', 'realpath'] as const;

/**
 * Show `nodeModules` to tslab's compiler at `<filesystem root>/node_modules`, unless a real entry of the
 * same name is there (as Node would prefer it too).
 */
export function forwardRootNodeModules(nodeModules: string): void {
  const tslabRequire = createRequire(require.resolve('tslab/dist/converter.js'));
  const sys = (tslabRequire('@tslab/typescript-for-tslab') as typeof import('@tslab/typescript-for-tslab')).sys as unknown as Record<string, Probe>;
  const virtual = (path.parse(process.cwd()).root + 'node_modules').replace(/\\/g, '/');
  const target = nodeModules.replace(/\\/g, '/');
  const realEntry = new Map<string, boolean>();
  const forward = (p: string): string => {
    if (p !== virtual && !p.startsWith(`${virtual}/`)) return p;
    const entry = p.slice(virtual.length + 1).split('/')[0];
    if (entry !== '') {
      if (!realEntry.has(entry)) realEntry.set(entry, fs.existsSync(`${virtual}/${entry}`));
      if (realEntry.get(entry)) return p;
    }
    return target + p.slice(virtual.length);
  };
  for (const name of PROBES) {
    const original = sys[name];
    if (typeof original !== 'function') continue;
    sys[name] = ((p: string, ...rest: never[]) => original.call(sys, forward(p), ...rest)) as Probe;
  }
}

/** Everything above; call once per process, before tslab's compiler is created. Returns the lab's root. */
export function installLabResolution(root: string = findLabRoot()): string {
  linkLab(root);
  const nodeModules = path.join(root, 'node_modules');
  addNodePath(nodeModules);
  forwardRootNodeModules(nodeModules);
  return root;
}
