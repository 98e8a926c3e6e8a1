import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { COLOURS, SHAPES_PRESETS, ShapesDataset, ShapesLabel } from '../../src/data/shapes';
import { ImageSample } from '../../src/data/image';

/** Pixels of one colour, measured from the image alone: count, centroid, bounding box fill ratio. */
function blob(s: ImageSample, colour: string): { count: number; cx: number; cy: number; fill: number; w: number; h: number } {
  const rgb = COLOURS[colour];
  let count = 0, sx = 0, sy = 0;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let y = 0; y < s.height; y++) {
    for (let x = 0; x < s.width; x++) {
      const p = (y * s.width + x) * 3;
      if (s.image[p] === rgb[0] && s.image[p + 1] === rgb[1] && s.image[p + 2] === rgb[2]) {
        count++;
        sx += x + 0.5;
        sy += y + 0.5;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  return { count, cx: sx / count, cy: sy / count, fill: count / (w * h), w, h };
}

/** Shape read back from its pixels: a square fills its box, a circle ~pi/4 of it, a triangle ~1/2. */
function shapeOf(fill: number): string {
  return fill > 0.93 ? 'square' : fill > 0.66 ? 'circle' : 'triangle';
}

test('items are a pure function of (seed, index), independent of access order', () => {
  const a = new ShapesDataset();
  const b = new ShapesDataset();
  const late = b.get(5);
  b.get(0);
  assert.deepEqual(a.get(5), late);
  assert.deepEqual(a.get(5), b.get(5));
  const other = new ShapesDataset({ seed: 1 });
  const differs = [0, 1, 2, 3, 4, 5].some((i) => other.get(i).caption !== a.get(i).caption);
  assert.ok(differs);
});

test('easy: one centred shape of a fixed size; pixels are exactly its colour or the background', () => {
  const ds = new ShapesDataset(SHAPES_PRESETS.easy);
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const s = ds.get(i);
    const [, colour, shape] = /^a (\w+) (\w+)$/.exec(s.caption)!;
    seen.add(shape);
    const b = blob(s, colour);
    let background = 0;
    for (let p = 0; p < 32 * 32 * 3; p += 3) if (s.image[p] === -1 && s.image[p + 1] === -1 && s.image[p + 2] === -1) background++;
    assert.equal(b.count + background, 32 * 32, 'every pixel is the shape colour or the background');
    assert.equal(shapeOf(b.fill), shape, `${s.caption}: fill ${b.fill}`);
    // Half-size 0.6 * 16 = 9.6 px, centred at (16, 16).
    assert.ok(Math.abs(b.w - 19.2) <= 1 && Math.abs(b.h - 19.2) <= 1, `${b.w}x${b.h}`);
    assert.ok(Math.abs(b.cx - 16) < 0.6, `cx ${b.cx}`);
    if (shape !== 'triangle') assert.ok(Math.abs(b.cy - 16) < 0.6, `cy ${b.cy}`);
    else assert.ok(b.cy > 16 + 2, 'a triangle pointing up has its mass below the centre');
  }
  assert.equal(seen.size, 3);
});

test('two shapes: the caption relation and shapes agree with the pixels', () => {
  const ds = new ShapesDataset({ minShapes: 2, maxShapes: 2, count: 300 });
  const re = /^a (\w+) (\w+) (above|below|to the (?:upper |lower )?(?:left|right) of) a (\w+) (\w+)$/;
  let checked = 0;
  for (let i = 0; i < ds.length; i++) {
    const s = ds.get(i);
    const m = re.exec(s.caption);
    assert.ok(m, s.caption);
    const [, c1, s1, rel, c2, s2] = m;
    if (c1 === c2) continue;
    const a = blob(s, c1);
    const b = blob(s, c2);
    assert.equal(shapeOf(a.fill), s1, `${s.caption}: fill ${a.fill}`);
    assert.equal(shapeOf(b.fill), s2, `${s.caption}: fill ${b.fill}`);
    const up = /above|upper/.test(rel), down = /below|lower/.test(rel);
    const left = /left/.test(rel), right = /right/.test(rel);
    // Shapes sit in distinct 16-px cells, so a relation means a clear gap in that direction.
    if (up) assert.ok(a.cy < b.cy - 8, s.caption);
    if (down) assert.ok(a.cy > b.cy + 8, s.caption);
    if (!up && !down) assert.ok(Math.abs(a.cy - b.cy) < 8, s.caption);
    if (left) assert.ok(a.cx < b.cx - 8, s.caption);
    if (right) assert.ok(a.cx > b.cx + 8, s.caption);
    if (!left && !right) assert.ok(Math.abs(a.cx - b.cx) < 8, s.caption);
    checked++;
  }
  assert.ok(checked > 150, `checked ${checked}`);
});

test('hard: two or three shapes; three are listed in reading order', () => {
  const ds = new ShapesDataset({ ...SHAPES_PRESETS.hard, count: 200 });
  const cell = 32 / 3;
  let threes = 0;
  for (let i = 0; i < ds.length; i++) {
    const s = ds.get(i);
    const label = s.label as ShapesLabel;
    assert.ok(label.shapes.length === 2 || label.shapes.length === 3);
    if (label.shapes.length !== 3) continue;
    const nouns = s.caption.split(/, | and /).map((n) => /^a (\w+) (\w+)$/.exec(n)!);
    assert.equal(nouns.length, 3, s.caption);
    const colours = nouns.map((n) => n[1]);
    if (new Set(colours).size < 3) continue;
    const cells = colours.map((c) => {
      const b = blob(s, c);
      return Math.floor(b.cy / cell) * 3 + Math.floor(b.cx / cell);
    });
    assert.deepEqual(cells, [...cells].sort((x, y) => x - y), s.caption);
    threes++;
  }
  assert.ok(threes > 30, `checked ${threes}`);
});

test('bad configs fail naming the field and what is allowed', () => {
  const field = (f: string) => (e: unknown) => e instanceof ConfigError && e.field === f;
  assert.throws(() => new ShapesDataset({ maxShapes: 5 }), field('shapes.maxShapes'));
  assert.throws(() => new ShapesDataset({ colours: ['purple'] }), field('shapes.colours[0]'));
  assert.throws(() => new ShapesDataset({ shapes: ['star' as 'circle'] }), field('shapes.shapes[0]'));
  assert.throws(() => new ShapesDataset({ scale: [0.9, 0.5] }), field('shapes.scale'));
  assert.throws(() => new ShapesDataset({ size: 8, grid: 3 }), field('shapes.grid'));
  assert.throws(() => new ShapesDataset({ count: 3 }).get(3), /index 3 is outside \[0, 2\]/);
});
