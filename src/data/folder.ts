/**
 * A folder of PNG/JPEG (any format sharp reads) images with a caption list, decoded and resized once with
 * sharp and kept in memory: the way to bring one's own captioned images to the lab.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { ConfigError, DeepPartial, check, mergeConfig } from '../config';
import { Rng } from '../engine/random';
import { CaptionEntry, DataFileError, decodeUtf8, parseCaptions } from './captions-file';
import { ImageDataset, ImageSample, checkIndex } from './image';

export interface FolderConfig {
  /** The folder (required; no default makes sense). */
  readonly dir: string;
  /** Caption list inside `dir` (default 'captions.csv'); a name ending in `.jsonl` is read as JSONL. */
  readonly captions: string;
  /** Output height in pixels (default 32). */
  readonly height: number;
  /** Output width in pixels (default 32). */
  readonly width: number;
  /** 3 (default) for RGB, 1 for grey; transparency is flattened onto black either way. */
  readonly channels: 1 | 3;
  /**
   * How to reach height x width (sharp's `fit`): 'cover' (default) crops the centre so no pixel is
   * invented, 'contain' letterboxes with black, 'fill' stretches.
   */
  readonly fit: 'cover' | 'contain' | 'fill';
}

export const DEFAULT_FOLDER_CONFIG: FolderConfig = {
  dir: '',
  captions: 'captions.csv',
  height: 32,
  width: 32,
  channels: 3,
  fit: 'cover',
};

/** Images decoded at once (sharp works on a thread pool; a bound keeps memory flat for big folders). */
const CONCURRENCY = 8;

function validate(c: FolderConfig): FolderConfig {
  if (typeof c.dir !== 'string' || c.dir === '') throw new ConfigError('folder.dir', c.dir, 'the path of an existing folder');
  if (!existsSync(c.dir)) throw new ConfigError('folder.dir', c.dir, 'the path of an existing folder (this one does not exist)');
  if (typeof c.captions !== 'string' || c.captions === '') throw new ConfigError('folder.captions', c.captions, "a file name such as 'captions.csv' or 'captions.jsonl'");
  check.size('folder.height', c.height, 'side');
  check.size('folder.width', c.width, 'side');
  check.oneOf('folder.channels', c.channels, [1, 3] as const);
  check.oneOf('folder.fit', c.fit, ['cover', 'contain', 'fill'] as const);
  return c;
}

export class FolderDataset implements ImageDataset {
  readonly length: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;

  constructor(
    readonly config: FolderConfig,
    /** Image file per item, relative to `config.dir`, in caption-list order. */
    readonly files: readonly string[],
    readonly captions: readonly string[],
    /** [height * width * channels] per item, HWC, in [-1, 1]. */
    readonly images: readonly Float32Array[],
  ) {
    this.length = files.length;
    this.height = config.height;
    this.width = config.width;
    this.channels = config.channels;
  }

  /** Item `index` with its caption from the list; the label is the file name. `rng` is not used. */
  get(index: number, _rng?: Rng): ImageSample {
    checkIndex('FolderDataset', index, this.length);
    const { height, width, channels } = this;
    return { image: this.images[index], height, width, channels, caption: this.captions[index], label: { file: this.files[index] } };
  }
}

/**
 * Read the caption list, then decode and resize every image it names. A missing or unreadable image fails
 * with the caption list's name and the line that named it.
 */
export async function loadFolder(overrides: DeepPartial<FolderConfig>): Promise<FolderDataset> {
  const config = validate(mergeConfig(DEFAULT_FOLDER_CONFIG, overrides, 'folder'));
  const listPath = path.join(config.dir, config.captions);
  if (!existsSync(listPath)) throw new DataFileError(listPath, null, 'caption list not found');
  const entries = parseCaptions(decodeUtf8(readFileSync(listPath), listPath), listPath);
  const images: Float32Array[] = [];
  for (let i = 0; i < entries.length; i += CONCURRENCY) {
    const chunk = entries.slice(i, i + CONCURRENCY);
    images.push(...(await Promise.all(chunk.map((e) => readImage(config, e, listPath)))));
  }
  return new FolderDataset(config, entries.map((e) => e.file), entries.map((e) => e.caption), images);
}

async function readImage(config: FolderConfig, entry: CaptionEntry, listPath: string): Promise<Float32Array> {
  const file = path.join(config.dir, entry.file);
  if (!existsSync(file)) throw new DataFileError(listPath, entry.line, `image ${JSON.stringify(entry.file)} not found (looked for ${file})`);
  let data: Buffer;
  try {
    const pipeline = sharp(file)
      .resize(config.width, config.height, { fit: config.fit, background: { r: 0, g: 0, b: 0 } })
      .flatten({ background: { r: 0, g: 0, b: 0 } });
    // An explicit colour space fixes the channel count whatever the file stores (grey PNG, RGBA, CMYK JPEG).
    data = (await pipeline.toColourspace(config.channels === 1 ? 'b-w' : 'srgb').raw().toBuffer({ resolveWithObject: true })).data;
  } catch (e) {
    throw new DataFileError(listPath, entry.line, `could not read image ${JSON.stringify(entry.file)}: ${(e as Error).message}`);
  }
  const expected = config.height * config.width * config.channels;
  if (data.length !== expected) {
    throw new DataFileError(listPath, entry.line, `image ${JSON.stringify(entry.file)} decoded to ${data.length} values, expected ${expected}`);
  }
  const image = new Float32Array(expected);
  for (let i = 0; i < expected; i++) image[i] = data[i] / 127.5 - 1;
  return image;
}
