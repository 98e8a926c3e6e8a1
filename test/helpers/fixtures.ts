/**
 * Read a JSON fixture kept beside a test's source. Compiled tests run from dist/test/..., where tsc copies no
 * data files, so the path falls back from the compiled folder to the source folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', ...(__dirname.includes(`${join('dist', 'test')}`) ? ['..'] : []));

/** The path of fixture `name` of the tests in `testDir` (their `__dirname`), compiled or not. */
export function fixturePath(testDir: string, name: string): string {
  const here = join(testDir, 'fixtures', name);
  return existsSync(here) ? here : join(ROOT, relative(join(ROOT, 'dist'), testDir), 'fixtures', name);
}

export function readFixture<T>(testDir: string, name: string): T {
  return JSON.parse(readFileSync(fixturePath(testDir, name), 'utf8')) as T;
}
