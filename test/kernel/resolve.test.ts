/**
 * kernel/resolve.ts: from a folder outside the lab, Node loads 'transfusion-lab' (the same files the kernel
 * preloads) and tslab's compiler type-checks imports of it against the lab's declarations.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { addNodePath, installLabResolution, linkLab } from '../../kernel/resolve';
import { ensureBuilt, ROOT } from './harness';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'transfusion-resolve-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('linkLab links node_modules/transfusion-lab to the lab, idempotently, and refuses a real folder', () => {
  const root = path.join(scratch, 'lab');
  fs.mkdirSync(path.join(root, 'node_modules'), { recursive: true });
  const link = linkLab(root);
  assert.equal(fs.readlinkSync(link), '..');
  assert.equal(fs.realpathSync(link), fs.realpathSync(root));
  assert.equal(linkLab(root), link);
  fs.unlinkSync(link);
  fs.symlinkSync('/somewhere/else', link);
  linkLab(root);
  assert.equal(fs.readlinkSync(link), '..', 'a stale link is replaced');
  fs.unlinkSync(link);
  fs.mkdirSync(link);
  assert.throws(() => linkLab(root), /exists and is not a link/);
});

test('addNodePath appends once, after the entries a user set', () => {
  const saved = process.env.NODE_PATH;
  try {
    process.env.NODE_PATH = '/user/modules';
    addNodePath('/lab/node_modules');
    addNodePath('/lab/node_modules');
    assert.equal(process.env.NODE_PATH, ['/user/modules', '/lab/node_modules'].join(path.delimiter));
  } finally {
    process.env.NODE_PATH = saved ?? '';
    (Module as unknown as { _initPaths(): void })._initPaths();
  }
});

const notebookDir = path.join(scratch, 'notebook');
let installed = false;

/** Like a kernel that Jupyter started in a notebook's folder outside the lab (tslab compiles in the cwd). */
function fromOutside(): void {
  if (installed) return;
  ensureBuilt();
  fs.mkdirSync(notebookDir, { recursive: true });
  process.chdir(notebookDir);
  installLabResolution(ROOT);
  installed = true;
}

test('Node resolves transfusion-lab from any folder to the built entry, through its real path', () => {
  fromOutside();
  const fromNotebook = createRequire(path.join(notebookDir, 'cell.js'));
  const entry = fromNotebook.resolve('transfusion-lab');
  assert.equal(entry, path.join(fs.realpathSync(ROOT), 'dist', 'src', 'index.js'));
  const viaNotebook = fromNotebook('transfusion-lab/dist/src/engine/interrupt');
  assert.equal(viaNotebook, require(path.join(ROOT, 'dist', 'src', 'engine', 'interrupt.js')), 'one module instance');
  assert.equal(typeof fromNotebook('@tensorflow/tfjs').tensor, 'function', "the lab's dependencies resolve too");
});

test("tslab's compiler type-checks imports of transfusion-lab (and node globals) against the lab's declarations", () => {
  fromOutside();
  const { createConverter } = require('tslab/dist/converter') as typeof import('tslab/dist/converter');
  const converter = createConverter({ isJS: false, isBrowser: false });
  try {
    const good = converter.convert('', "import { interruptRequested } from 'transfusion-lab';\nconst b: boolean = interruptRequested();\nconsole.log(process.cwd());");
    assert.deepEqual(good.diagnostics.map((d) => d.messageText), []);
    assert.match(good.output ?? '', /require\("transfusion-lab"\)/);
    const bad = converter.convert('', "import { interruptRequested } from 'transfusion-lab/dist/src/engine/interrupt';\nconst s: string = interruptRequested();");
    assert.deepEqual(bad.diagnostics.map((d) => d.messageText), ["Type 'boolean' is not assignable to type 'string'."]);
    const missing = converter.convert('', "import { noSuchExport } from 'transfusion-lab';");
    assert.match(String(missing.diagnostics[0]?.messageText), /has no exported member 'noSuchExport'/);
  } finally {
    converter.close();
  }
});
