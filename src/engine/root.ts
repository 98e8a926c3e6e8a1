/** Where the lab is installed, for files it keeps beside itself (out/ caches, the kernel's links). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PACKAGE_NAME = 'transfusion-lab';

/**
 * The lab's root: the nearest folder above `from` with a package.json named transfusion-lab and its
 * installed node_modules. (The build may copy package.json into dist/, which has no node_modules.)
 */
export function findLabRoot(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && fs.existsSync(path.join(dir, 'node_modules'))) {
      if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`no package.json named '${PACKAGE_NAME}' with a node_modules above ${from}: run from an installed lab`);
  }
}
