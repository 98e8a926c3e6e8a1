/**
 * Data files: the images a caption list names stay inside its folder, and the list is decoded as strict UTF-8;
 * every error names the file and the line.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeUtf8, parseCaptions } from '../../src/data/captions-file';
import { loadFolder } from '../../src/data/folder';

let root = '';
let dir = '';

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tl-reliability-data-'));
  dir = path.join(root, 'images');
  mkdirSync(path.join(dir, 'sub'), { recursive: true });
  const grey = (file: string) => sharp(Buffer.alloc(16, 128), { raw: { width: 4, height: 4, channels: 1 } }).png().toFile(file);
  await grey(path.join(dir, 'a.png'));
  await grey(path.join(dir, 'sub', 'b.png'));
  // A file outside the folder, which a list inside it must not be able to reach.
  await grey(path.join(root, 'secret.png'));
});

after(() => rmSync(root, { recursive: true, force: true }));

test('a CSV list naming an image outside its folder is refused, naming the file and line', () => {
  const csv = 'file,caption\na.png,fine\n../secret.png,escapes\n';
  assert.throws(() => parseCaptions(csv, 'captions.csv'),
    /captions\.csv:3: "file" "\.\.\/secret\.png" is a path that climbs out of the folder; allowed: a path relative to the caption list's folder, inside it/);
  assert.throws(() => parseCaptions('file,caption\nsub/../../secret.png,x\n', 'captions.csv'), /captions\.csv:2: "file" "sub\/\.\.\/\.\.\/secret\.png" is a path that climbs out/);
  assert.throws(() => parseCaptions('file,caption\n..\\secret.png,x\n', 'captions.csv'), /captions\.csv:2: "file" "\.\.\\\\secret\.png" is a path that climbs out/);
});

test('a JSONL list naming an absolute path is refused, naming the file and line', () => {
  const jsonl = '{"file":"a.png","caption":"fine"}\n\n{"file":"/etc/passwd","caption":"absolute"}\n';
  assert.throws(() => parseCaptions(jsonl, 'captions.jsonl'), /captions\.jsonl:3: "file" "\/etc\/passwd" is an absolute path; allowed: a path relative to the caption list's folder/);
  assert.throws(() => parseCaptions('{"file":"C:\\\\x.png","caption":"drive"}\n', 'captions.jsonl'), /captions\.jsonl:1: "file" "C:\\\\x\.png" is an absolute path/);
  assert.throws(() => parseCaptions('{"file":"a\\u0000.png","caption":"nul"}\n', 'captions.jsonl'), /captions\.jsonl:1: "file" "a\\u0000\.png" is a NUL character/);
});

test('loadFolder refuses a list that reaches outside the folder before reading any image', async () => {
  writeFileSync(path.join(dir, 'escape.csv'), 'file,caption\na.png,inside\nsub/b.png,inside too\n../secret.png,outside\n');
  await assert.rejects(loadFolder({ dir, captions: 'escape.csv', height: 4, width: 4, channels: 1 }),
    /escape\.csv:4: "file" "\.\.\/secret\.png" is a path that climbs out of the folder/);
  // Paths that stay inside, `..` included, are fine.
  writeFileSync(path.join(dir, 'inside.csv'), 'file,caption\nsub/../a.png,one\n./sub/b.png,two\n');
  const ds = await loadFolder({ dir, captions: 'inside.csv', height: 4, width: 4, channels: 1 });
  assert.deepEqual(ds.files, ['sub/../a.png', './sub/b.png']);
});

test('a caption list that is not valid UTF-8 is an error naming the file and the line of the bad bytes', async () => {
  const bytes = Buffer.concat([Buffer.from('file,caption\na.png,caf\u00e9\nsub/b.png,bad '), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]);
  writeFileSync(path.join(dir, 'latin.csv'), bytes);
  await assert.rejects(loadFolder({ dir, captions: 'latin.csv', height: 4, width: 4, channels: 1 }), /latin\.csv:3: not valid UTF-8 text \(save the file as UTF-8\)/);
  assert.throws(() => decodeUtf8(Uint8Array.from([0x61, 0x0a, 0x62, 0x0a, 0xff]), 'list.jsonl'), /list\.jsonl:3: not valid UTF-8 text/);
  // Strict is not fussy: a list saved with a byte-order mark still reads its header.
  writeFileSync(path.join(dir, 'bom.csv'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('file,caption\na.png,caf\u00e9\n')]));
  assert.deepEqual((await loadFolder({ dir, captions: 'bom.csv', height: 4, width: 4, channels: 1 })).captions, ['caf\u00e9']);
});
