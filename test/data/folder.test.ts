import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { ConfigError } from '../../src/config';
import { DataFileError, parseCaptions, parseCsv } from '../../src/data/captions-file';
import { loadFolder } from '../../src/data/folder';

let dir = '';

/** [h, w, c] uint8 image whose value at (y, x, ch) is f(y, x, ch). */
function raw(h: number, w: number, c: number, f: (y: number, x: number, ch: number) => number): Buffer {
  const b = Buffer.alloc(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) b[(y * w + x) * c + ch] = f(y, x, ch);
  return b;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tl-folder-'));
  const gradient = raw(4, 4, 3, (y, x, ch) => (ch === 0 ? x * 60 : ch === 1 ? y * 60 : 255));
  await sharp(gradient, { raw: { width: 4, height: 4, channels: 3 } }).png().toFile(path.join(dir, 'gradient.png'));
  await sharp(raw(6, 10, 3, (_y, _x, ch) => (ch === 0 ? 255 : 0)), { raw: { width: 10, height: 6, channels: 3 } }).png().toFile(path.join(dir, 'red.png'));
  await sharp(raw(4, 4, 1, () => 100), { raw: { width: 4, height: 4, channels: 1 } }).png().toFile(path.join(dir, 'grey.png'));
  await sharp(raw(8, 8, 3, () => 128), { raw: { width: 8, height: 8, channels: 3 } }).jpeg({ quality: 100 }).toFile(path.join(dir, 'mid.jpg'));
  writeFileSync(path.join(dir, 'broken.png'), 'not an image');
  writeFileSync(path.join(dir, 'captions.csv'), 'file,caption\ngradient.png,"a gradient, blue"\nred.png,a red "flag"\n\ngrey.png,"grey ""100"""\nmid.jpg,mid grey\n');
  writeFileSync(path.join(dir, 'captions.jsonl'), '{"file":"red.png","caption":"red"}\n\n{"file":"grey.png","caption":"grey"}\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('CSV list: images decoded, resized and mapped to [-1, 1]; quoted captions kept exactly', async () => {
  const ds = await loadFolder({ dir, height: 4, width: 4, fit: 'fill' });
  assert.equal(ds.length, 4);
  assert.deepEqual(ds.files, ['gradient.png', 'red.png', 'grey.png', 'mid.jpg']);
  assert.deepEqual(ds.captions, ['a gradient, blue', 'a red "flag"', 'grey "100"', 'mid grey']);
  const g = ds.get(0);
  assert.deepEqual([g.height, g.width, g.channels, g.image.length], [4, 4, 3, 48]);
  // Same size: no resampling, so values are exact: byte / 127.5 - 1.
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      const p = (y * 4 + x) * 3;
      assert.deepEqual(Array.from(g.image.subarray(p, p + 3)), [(x * 60) / 127.5 - 1, (y * 60) / 127.5 - 1, 1].map(Math.fround));
    }
  }
  // A solid image stays solid under any resize; a grey PNG is expanded to RGB.
  assert.ok(ds.get(1).image.every((v, k) => v === (k % 3 === 0 ? 1 : -1)));
  assert.ok(ds.get(2).image.every((v) => Math.abs(v - (100 / 127.5 - 1)) < 1e-6));
  assert.ok(ds.get(3).image.every((v) => Math.abs(v - (128 / 127.5 - 1)) < 2 / 127.5), 'JPEG within 2 levels');
  assert.deepEqual(ds.get(0).label, { file: 'gradient.png' });
});

test('JSONL list, grey output and cover cropping to a different aspect ratio', async () => {
  const ds = await loadFolder({ dir, captions: 'captions.jsonl', height: 2, width: 3, channels: 1 });
  assert.deepEqual(ds.captions, ['red', 'grey']);
  assert.deepEqual([ds.height, ds.width, ds.channels, ds.get(0).image.length], [2, 3, 1, 6]);
  assert.ok(ds.get(1).image.every((v) => Math.abs(v - (100 / 127.5 - 1)) < 1e-6));
  const red = ds.get(0).image[0];
  assert.ok(red > -0.8 && red < 0, `grey of pure red is its luminance, got ${red}`);

  // 16 x 4 stripes: red | green (the middle half) | blue. 'cover' to 4 x 4 keeps the centre, all green;
  // 'fill' squeezes the whole width, so red and blue survive at the edges.
  const stripes = raw(4, 16, 3, (_y, x, ch) => (x < 4 ? [255, 0, 0] : x < 12 ? [0, 255, 0] : [0, 0, 255])[ch]);
  await sharp(stripes, { raw: { width: 16, height: 4, channels: 3 } }).png().toFile(path.join(dir, 'stripes.png'));
  writeFileSync(path.join(dir, 'stripes.jsonl'), '{"file":"stripes.png","caption":"stripes"}\n');
  const cover = (await loadFolder({ dir, captions: 'stripes.jsonl', height: 4, width: 4 })).get(0).image;
  assert.ok(cover.every((v, k) => Math.abs(v - (k % 3 === 1 ? 1 : -1)) < 1e-6));
  const fill = (await loadFolder({ dir, captions: 'stripes.jsonl', height: 4, width: 4, fit: 'fill' })).get(0).image;
  assert.ok(fill[0] > 0.5 && fill[3 * 3 + 2] > 0.5, 'red at the left edge, blue at the right');
});

test('a missing image, an undecodable image and bad rows fail naming the list and the line', async () => {
  const write = (name: string, text: string): string => {
    writeFileSync(path.join(dir, name), text);
    return name;
  };
  const fails = async (captions: string, line: number | null, pattern: RegExp): Promise<void> => {
    await assert.rejects(loadFolder({ dir, captions }), (e: unknown) => {
      assert.ok(e instanceof DataFileError, String(e));
      assert.equal(e.file, path.join(dir, captions));
      assert.equal(e.line, line);
      assert.match(e.message, pattern);
      return true;
    });
  };
  await fails(write('missing.csv', 'file,caption\nred.png,ok\nnope.png,gone\n'), 3, /"nope\.png" not found/);
  await fails(write('broken.csv', 'file,caption\nbroken.png,x\n'), 2, /could not read image "broken\.png"/);
  await fails(write('fields.csv', 'file,caption\nred.png,a,b\n'), 2, /3 fields where the header has 2/);
  await fails(write('header.csv', 'path,text\nred.png,a\n'), 1, /"file" and "caption"/);
  await fails(write('json.jsonl', '{"file":"red.png","caption":"a"}\n{"file":"red.png",\n'), 2, /not valid JSON/);
  await fails(write('nocap.jsonl', '{"file":"red.png"}\n'), 1, /"caption" must be a string/);
  await fails('absent.csv', null, /caption list not found/);
  await assert.rejects(loadFolder({ dir: path.join(dir, 'no-such-dir') }), (e: unknown) => e instanceof ConfigError && e.field === 'folder.dir');
  await assert.rejects(loadFolder({ dir, fit: 'crop' as 'cover' }), (e: unknown) => e instanceof ConfigError && e.field === 'folder.fit');
});

test('CSV parsing: quoted newlines keep the record start line; unclosed quotes and stray text fail', () => {
  assert.deepEqual(parseCsv('a,b\r\n"x\ny",z\n\nq,""\n', 'l.csv'), [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['x\ny', 'z'] },
    { line: 5, fields: ['q', ''] },
  ]);
  assert.throws(() => parseCsv('a,"b\n', 'l.csv'), /l\.csv:1: a quoted field is never closed/);
  assert.throws(() => parseCsv('a,"b"c\n', 'l.csv'), /l\.csv:1: text after a closing quote/);
  assert.throws(() => parseCaptions('file,caption\n', 'l.csv'), /l\.csv: no entries/);
});
