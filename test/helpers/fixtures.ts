/**
 * Read a JSON fixture kept beside a test's source. Compiled tests run from dist/test/..., where tsc copies no
 * data files, so the path falls back from the compiled folder to the source folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', ...(__dirname.includes(`${join('dist', 'test')}`) ? ['..'] : []));

export function readFixture<T>(testDir: string, name: string): T {
  const here = join(testDir, 'fixtures', name);
  const source = join(ROOT, relative(join(ROOT, 'dist'), testDir), 'fixtures', name);
  const path = existsSync(here) ? here : source;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
