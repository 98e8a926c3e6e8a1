/**
 * Procedural coloured shapes with compositional captions ("a red circle above a blue square"): a text-to-image
 * task whose every caption is exactly true of its pixels, so a model's samples can be scored by reading the
 * pixels back. Item `i` is a pure function of (seed, i), rasterised with plain JS at pixel centres (no
 * antialiasing, so pixel values are exact colours).
 *
 * Layout: the image is a `grid x grid` board; each shape sits inside its own cell, so shapes never overlap
 * and "above" / "to the left of" follow from the cells alone.
 */
import { ConfigError, DeepPartial, check, mergeConfig } from '../config';
import { Rng } from '../engine/random';
import { ImageDataset, ImageSample, checkIndex } from './image';

export type ShapeKind = 'circle' | 'square' | 'triangle';
export const SHAPE_KINDS: readonly ShapeKind[] = ['circle', 'square', 'triangle'];

/** Colour name -> RGB in [-1, 1] (pure primaries and their mixes, far apart so they are easy to tell). */
export const COLOURS: Readonly<Record<string, readonly [number, number, number]>> = {
  red: [1, -1, -1],
  green: [-1, 1, -1],
  blue: [-1, -1, 1],
  yellow: [1, 1, -1],
  magenta: [1, -1, 1],
  cyan: [-1, 1, 1],
  white: [1, 1, 1],
  orange: [1, 0, -1],
};

export interface ShapesConfig {
  /** Number of items (default 10000); any count is free since items are drawn on demand. */
  readonly count: number;
  /** Seed of the items (default 0); item i depends only on (seed, i), not on the global seed. */
  readonly seed: number;
  /** Image side in pixels (default 32, a power of two for the autoencoder and patching). */
  readonly size: number;
  /** Fewest shapes per image (default 1). */
  readonly minShapes: number;
  /** Most shapes per image (default 2); at most grid * grid. */
  readonly maxShapes: number;
  /** Cells per side (default 2); more cells make positions and relations harder to learn. */
  readonly grid: number;
  /** Shapes to draw from (default all three). */
  readonly shapes: readonly ShapeKind[];
  /** Colour names from COLOURS to draw from (default red, green, blue, yellow). */
  readonly colours: readonly string[];
  /** Shape half-size as a fraction of half a cell, drawn uniformly in [min, max] (default [0.6, 0.8]). */
  readonly scale: readonly [number, number];
  /** How far the centre may move inside its cell, as a fraction of the free room (default 0.5; 0 = centred). */
  readonly jitter: number;
  /** Background RGB in [-1, 1] (default black). */
  readonly background: readonly [number, number, number];
}

export const DEFAULT_SHAPES_CONFIG: ShapesConfig = {
  count: 10000,
  seed: 0,
  size: 32,
  minShapes: 1,
  maxShapes: 2,
  grid: 2,
  shapes: SHAPE_KINDS,
  colours: ['red', 'green', 'blue', 'yellow'],
  scale: [0.6, 0.8],
  jitter: 0.5,
  background: [-1, -1, -1],
};

/** Difficulty presets, to spread over DEFAULT_SHAPES_CONFIG (`new ShapesDataset(SHAPES_PRESETS.hard)`). */
export const SHAPES_PRESETS = {
  /** One centred shape of a fixed size: shape x colour only. */
  easy: { minShapes: 1, maxShapes: 1, grid: 1, scale: [0.6, 0.6], jitter: 0 },
  /** The default: one or two shapes on a 2x2 board, with relations. */
  medium: {},
  /** Two or three shapes on a 3x3 board, eight colours, varied sizes and positions. */
  hard: { minShapes: 2, maxShapes: 3, grid: 3, colours: Object.keys(COLOURS), scale: [0.5, 0.9], jitter: 1 },
} as const satisfies Record<string, DeepPartial<ShapesConfig>>;

/** One drawn shape, in pixel coordinates (x right, y down). */
export interface PlacedShape {
  readonly shape: ShapeKind;
  readonly colour: string;
  /** Board cell. */
  readonly row: number;
  readonly col: number;
  readonly centreX: number;
  readonly centreY: number;
  /** Half-size: circle radius, half the square's side, half the triangle's base and height. */
  readonly radius: number;
}

/** The label of a shapes item: what was drawn, in drawing order (the order the caption names them for two). */
export interface ShapesLabel {
  readonly shapes: readonly PlacedShape[];
}

/** Check every field (errors name `${field}.<name>`). */
export function validateShapesConfig(c: ShapesConfig, field = 'shapes'): ShapesConfig {
  check.size(`${field}.count`, c.count, 'items');
  check.finite(`${field}.seed`, c.seed);
  check.size(`${field}.size`, c.size, 'side');
  check.positiveInt(`${field}.grid`, c.grid);
  if (c.size / c.grid < 4) throw new ConfigError(`${field}.grid`, c.grid, `at most size / 4 = ${Math.floor(c.size / 4)} so a cell is >= 4 pixels`);
  check.positiveInt(`${field}.minShapes`, c.minShapes);
  check.positiveInt(`${field}.maxShapes`, c.maxShapes);
  if (c.maxShapes < c.minShapes || c.maxShapes > c.grid * c.grid) {
    throw new ConfigError(`${field}.maxShapes`, c.maxShapes, `an integer in [minShapes = ${c.minShapes}, grid^2 = ${c.grid * c.grid}]`);
  }
  if (!Array.isArray(c.shapes) || c.shapes.length === 0) throw new ConfigError(`${field}.shapes`, c.shapes, 'a non-empty array');
  c.shapes.forEach((s, i) => check.oneOf(`${field}.shapes[${i}]`, s, SHAPE_KINDS));
  if (!Array.isArray(c.colours) || c.colours.length === 0) throw new ConfigError(`${field}.colours`, c.colours, 'a non-empty array');
  c.colours.forEach((s, i) => check.oneOf(`${field}.colours[${i}]`, s, Object.keys(COLOURS)));
  if (!Array.isArray(c.scale) || c.scale.length !== 2 || !(c.scale[0] > 0 && c.scale[0] <= c.scale[1] && c.scale[1] <= 1)) {
    throw new ConfigError(`${field}.scale`, c.scale, '[min, max] with 0 < min <= max <= 1');
  }
  check.inRange(`${field}.jitter`, c.jitter, 0, 1);
  if (!Array.isArray(c.background) || c.background.length !== 3 || c.background.some((v) => !(v >= -1 && v <= 1))) {
    throw new ConfigError(`${field}.background`, c.background, '[r, g, b] with each value in [-1, 1]');
  }
  return c;
}

export class ShapesDataset implements ImageDataset {
  readonly config: ShapesConfig;
  readonly length: number;
  readonly height: number;
  readonly width: number;
  readonly channels = 3;

  constructor(overrides: DeepPartial<ShapesConfig> = {}) {
    this.config = validateShapesConfig(mergeConfig(DEFAULT_SHAPES_CONFIG, overrides, 'shapes'));
    this.length = this.config.count;
    this.height = this.width = this.config.size;
  }

  /** The scene of item `index` (no pixels). */
  scene(index: number): PlacedShape[] {
    checkIndex('ShapesDataset', index, this.length);
    const c = this.config;
    const r = new Rng(`shapes/${c.seed}/${index}`);
    const n = c.minShapes + r.int(c.maxShapes - c.minShapes + 1);
    const cells = r.permutation(c.grid * c.grid).slice(0, n);
    const cell = c.size / c.grid;
    return cells.map((k) => {
      const row = Math.floor(k / c.grid);
      const col = k % c.grid;
      const radius = (r.uniform(c.scale[0], c.scale[1]) * cell) / 2;
      const room = c.jitter * (cell / 2 - radius);
      return {
        shape: c.shapes[r.int(c.shapes.length)],
        colour: c.colours[r.int(c.colours.length)],
        row,
        col,
        centreX: (col + 0.5) * cell + r.uniform(-room, room),
        centreY: (row + 0.5) * cell + r.uniform(-room, room),
        radius,
      };
    });
  }

  /** Item `index`: `[size * size * 3]` in [-1, 1] and its caption. Deterministic: `rng` is not used. */
  get(index: number, _rng?: Rng): ImageSample {
    const shapes = this.scene(index);
    const { size, background } = this.config;
    const image = new Float32Array(size * size * 3);
    for (let p = 0; p < size * size; p++) image.set(background, p * 3);
    for (const s of shapes) rasterise(image, size, s);
    const label: ShapesLabel = { shapes };
    return { image, height: size, width: size, channels: 3, caption: describeScene(shapes), label };
  }
}

/** Whether the pixel centre (px, py) is inside the shape. */
export function covers(s: PlacedShape, px: number, py: number): boolean {
  const dx = px - s.centreX;
  const dy = py - s.centreY;
  const r = s.radius;
  switch (s.shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square':
      return Math.abs(dx) <= r && Math.abs(dy) <= r;
    case 'triangle':
      // Apex at (cx, cy - r), base from (cx - r, cy + r) to (cx + r, cy + r): half-width grows linearly downwards.
      return dy >= -r && dy <= r && Math.abs(dx) <= (dy + r) / 2;
  }
}

function rasterise(image: Float32Array, size: number, s: PlacedShape): void {
  const rgb = COLOURS[s.colour];
  const y0 = Math.max(0, Math.floor(s.centreY - s.radius));
  const y1 = Math.min(size - 1, Math.ceil(s.centreY + s.radius));
  const x0 = Math.max(0, Math.floor(s.centreX - s.radius));
  const x1 = Math.min(size - 1, Math.ceil(s.centreX + s.radius));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (covers(s, x + 0.5, y + 0.5)) image.set(rgb, (y * size + x) * 3);
    }
  }
}

/** Where `a` is relative to `b`, from their cells. */
export function relation(a: PlacedShape, b: PlacedShape): string {
  const vertical = a.row < b.row ? 'upper' : a.row > b.row ? 'lower' : '';
  const horizontal = a.col < b.col ? 'left' : a.col > b.col ? 'right' : '';
  if (vertical && horizontal) return `to the ${vertical} ${horizontal} of`;
  if (vertical) return vertical === 'upper' ? 'above' : 'below';
  return `to the ${horizontal} of`;
}

/**
 * One shape: "a red circle". Two: the first relative to the second, "a red circle above a blue square".
 * Three or more: listed in reading order (top-to-bottom, left-to-right), "a red circle, a blue square and a
 * green triangle", since chained relations would be ambiguous.
 */
export function describeScene(shapes: readonly PlacedShape[]): string {
  const noun = (s: PlacedShape): string => `a ${s.colour} ${s.shape}`;
  if (shapes.length === 1) return noun(shapes[0]);
  if (shapes.length === 2) return `${noun(shapes[0])} ${relation(shapes[0], shapes[1])} ${noun(shapes[1])}`;
  const ordered = [...shapes].sort((a, b) => a.row - b.row || a.col - b.col).map(noun);
  return `${ordered.slice(0, -1).join(', ')} and ${ordered[ordered.length - 1]}`;
}
