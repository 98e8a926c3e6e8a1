import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ConfigError, ShapeError } from '../../src/config';
import { tf } from '../../src/engine/tf';
import { animation } from '../../src/viz/animation';
import { fontsRender } from '../../src/viz/captions';
import { tensorToPng, toRawImages, upscale } from '../../src/viz/image';
import { imageGrid } from '../../src/viz/image-grid';

/** Decode a PNG to one channel per pixel (sharp widens grey to RGB on raw output; take the first). */
async function decodeGrey(png: Buffer): Promise<{ width: number; height: number; pixels: number[] }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const pixels = Array.from({ length: info.width * info.height }, (_, p) => data[p * info.channels]);
  return { width: info.width, height: info.height, pixels };
}

test('tensorToPng maps [-1, 1] and [0, 1] to 0..255 exactly, clipping outside the range', async () => {
  const before = tf.memory().numTensors;
  const t = tf.tensor2d([[-1, 0, 1], [0.5, -3, 7]]);
  const png = await tensorToPng(t);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.channels, 1, 'grey stays one channel');
  // (v + 1) / 2 * 255, rounded: 0 -> 127.5 -> 128, 0.5 -> 191.25 -> 191.
  assert.deepEqual((await decodeGrey(png)).pixels, [0, 128, 255, 191, 0, 255]);
  const unit = await tensorToPng(t, { range: [0, 1] });
  assert.deepEqual((await decodeGrey(unit)).pixels, [0, 0, 255, 128, 0, 255]);
  const auto = await tensorToPng(t, { range: 'auto' });
  assert.deepEqual((await decodeGrey(auto)).pixels, [51, 77, 102, 89, 0, 255]);
  t.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('RGB tensors keep their channels; nearest-neighbour scaling repeats pixels', async () => {
  const rgb = tf.tensor3d([[[1, -1, -1], [-1, 1, -1]]]);
  const png = await tensorToPng(rgb, { scale: 3 });
  rgb.dispose();
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [6, 3, 3]);
  assert.deepEqual(Array.from(data.subarray(0, 3)), [255, 0, 0]);
  assert.deepEqual(Array.from(data.subarray(2 * 3, 3 * 3)), [255, 0, 0]);
  assert.deepEqual(Array.from(data.subarray(3 * 3, 4 * 3)), [0, 255, 0]);
  assert.deepEqual(Array.from(data.subarray((2 * 6 + 5) * 3, (2 * 6 + 6) * 3)), [0, 255, 0]);
  const small = upscale({ width: 1, height: 1, channels: 1, data: Uint8Array.from([9]) }, 2);
  assert.deepEqual(Array.from(small.data), [9, 9, 9, 9]);
  await assert.rejects(tensorToPng(tf.zeros([2, 2, 8])), ShapeError);
  await assert.rejects(tensorToPng([[0]], { range: [1, 0] }), ConfigError);
});

test('nested arrays work like tensors and leave no tensor behind', async () => {
  const before = tf.memory().numTensors;
  const raws = toRawImages([[[0, 1]], [[-1, 0]]], [-1, 1]);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(raws.map((r) => Array.from(r.data)), [[128, 255], [0, 128]]);
});

test('imageGrid lays out N images with padding and scaling; the PNG has the computed size', async () => {
  const before = tf.memory().numTensors;
  // Image i is filled with the value i / 5 in [0, 1].
  const images = tf.tidy(() => tf.range(0, 5).div(5).reshape([5, 1, 1, 1]).tile([1, 4, 3, 1]));
  const grid = await imageGrid(images, { columns: 3, scale: 2, padding: 1, range: [0, 1], background: 7 });
  images.dispose();
  assert.equal(tf.memory().numTensors, before);
  // 3 columns of 3*2 px + 4 gaps; 2 rows of 4*2 px + 3 gaps.
  assert.deepEqual([grid.width, grid.height], [3 * 6 + 4, 2 * 8 + 3]);
  const meta = await sharp(grid.png).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels], [22, 19, 1]);
  const { pixels } = await decodeGrey(grid.png);
  const at = (x: number, y: number) => pixels[y * grid.width + x];
  assert.equal(at(0, 0), 7, 'padding has the background level');
  assert.equal(at(1, 1), 0, 'image 0 at the top left');
  assert.equal(at(1 + 7, 1), Math.round((1 / 5) * 255), 'image 1 after one cell and a gap');
  assert.equal(at(1 + 7, 1 + 9 + 7), Math.round((4 / 5) * 255), 'image 4: second row, second column');
  assert.equal(at(1 + 14, 1 + 9), 7, 'the sixth cell is empty');
  const bundle = grid.toMimeBundle();
  assert.deepEqual(Object.keys(bundle.data).sort(), ['image/png', 'text/plain']);
  assert.ok(Buffer.from(bundle.data['image/png'] as string, 'base64').equals(grid.png));
  assert.match(bundle.data['text/plain'] as string, /^ImageGrid: 5 images 3x4x1 in 2x3, scale 2 -> 22x19 px PNG/);
});

test('auto scale makes 28x28 cells 56 px; labels add a row drawn with a font, or HTML captions', async () => {
  const digits = tf.zeros([2, 28, 28, 1]);
  const plain = await imageGrid(digits, { padding: 0 });
  assert.deepEqual([plain.width, plain.height], [112, 56]);
  assert.equal(await fontsRender(), true, 'this machine has fonts (fc-list lists DejaVu)');
  const drawn = await imageGrid(digits, { padding: 0, labels: ['seven', 'two'], range: [0, 1], background: 255 });
  const labelRow = Math.round(11 * 1.5);
  assert.deepEqual([drawn.width, drawn.height], [112, 56 + labelRow]);
  const { pixels } = await decodeGrey(drawn.png);
  const rowInk = (y0: number, y1: number, x0: number, x1: number) => {
    let ink = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ink += 255 - pixels[y * drawn.width + x];
    return ink;
  };
  assert.ok(rowInk(56, 56 + labelRow, 0, 56) > 0, 'text under the first cell');
  assert.ok(rowInk(56, 56 + labelRow, 56, 112) > 0, 'text under the second cell');
  assert.equal(rowInk(0, 56, 0, 112), 255 * 112 * 56, 'cells themselves untouched (black images)');
  const html = await imageGrid(digits, { padding: 0, labels: ['a<b', 'two'], captions: 'html' });
  digits.dispose();
  const bundle = html.toMimeBundle();
  assert.ok(typeof bundle.data['text/html'] === 'string');
  assert.match(bundle.data['text/html'] as string, /a&lt;b<\/div>/);
  assert.match(bundle.data['text/html'] as string, /<img [^>]*src="data:image\/png;base64,/);
  assert.deepEqual((await decodeGrey(html.png)).pixels.slice(56 * 112), new Array(labelRow * 112).fill(255), 'label rows left blank');
  await assert.rejects(imageGrid(tf.zeros([2, 4, 4, 1]), { labels: ['one'] }), /imageGrid\.labels: got "1 labels"/);
  await assert.rejects(imageGrid(tf.zeros([4, 4, 1])), ShapeError);
});

test('animation writes an animated GIF with one page per frame and the last frame held', async () => {
  const before = tf.memory().numTensors;
  const frames = [0, 1, 2, 3].map((i) => tf.fill([6, 5], -1 + i * 0.5));
  const anim = await animation(frames, { fps: 10, hold: 1 });
  // Distinct frames: the GIF encoder merges identical consecutive frames (adding their delays).
  const batches = [0, 1, 2].map((i) => tf.fill([3, 4, 4, 1], i * 0.5 - 1));
  const gridAnim = await animation(batches, { grid: { columns: 3, scale: 1, padding: 1 } });
  for (const t of [...frames, ...batches]) t.dispose();
  assert.equal(tf.memory().numTensors, before);
  const meta = await sharp(anim.gif, { animated: true }).metadata();
  assert.equal(meta.format, 'gif');
  assert.equal(meta.pages, 4);
  assert.equal(meta.pageHeight, 6);
  assert.equal(meta.width, 5);
  assert.deepEqual(meta.delay, [100, 100, 100, 1100]);
  assert.equal(meta.loop, 0);
  const firstPage = await sharp(anim.gif, { page: 0 }).raw().toBuffer();
  const lastPage = await sharp(anim.gif, { page: 3 }).raw().toBuffer();
  assert.equal(firstPage[0], 0);
  assert.equal(lastPage[0], 191);
  const gridMeta = await sharp(gridAnim.gif, { animated: true }).metadata();
  assert.deepEqual([gridMeta.pages, gridMeta.width, gridMeta.pageHeight], [3, 3 * 4 + 4, 4 + 2]);
  const bundle = anim.toMimeBundle();
  assert.deepEqual(Object.keys(bundle.data).sort(), ['image/gif', 'text/html', 'text/plain']);
  assert.match(bundle.data['text/html'] as string, /^<img [^>]*src="data:image\/gif;base64,/);
  assert.equal(bundle.data['text/plain'], `Animation: 4 frames 5x6 at 10 fps (GIF, ${(anim.gif.length / 1024).toFixed(1)} kB)`);
  await assert.rejects(animation([[[0]], [[0, 0]]]), /animation\.frames\[1\]: got "2x1 px"/);
});
