/**
 * Latents keyed by dataset item index, so the (frozen) autoencoder runs once per image rather than once per
 * step: the paper trains on latents of a fixed pretrained VAE, for which caching is exact. Kept in memory;
 * `save` / `load` write one raw float32 file plus a JSON index beside it.
 *
 * The autoencoder lives elsewhere: the cache only calls the `encode` function it is given.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { endianness } from 'node:os';
import { ConfigError, check } from '../config';
import { Rng } from '../engine/random';
import { ImageDataset } from './image';

/** Images (each [H*W*C] in [-1, 1]) -> latents (each [h*w*c]), one per image, in order. */
export type EncodeFn = (images: Float32Array[]) => Promise<Float32Array[]> | Float32Array[];

export interface LatentCacheOptions {
  /** Images per `encode` call while filling (default 32: bounds the autoencoder's memory per call). */
  readonly batchSize?: number;
  /** Free-form facts saved with the cache, e.g. `{ autoencoder: 'vae-f2-c4', shape: [16, 16, 4] }`. */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** The JSON index written beside the raw float32 file. */
interface CacheIndex {
  readonly format: 'transfusion-lab/latent-cache';
  readonly version: 1;
  readonly dtype: 'float32';
  /** Byte order of the raw file (the writer's native order). */
  readonly byteOrder: 'LE' | 'BE';
  readonly meta: Record<string, unknown>;
  /** [item index, offset in floats, length in floats] per entry. */
  readonly entries: Array<[number, number, number]>;
}

const FORMAT = 'transfusion-lab/latent-cache';

export class LatentCache {
  readonly batchSize: number;
  readonly meta: Readonly<Record<string, unknown>>;
  private readonly latents = new Map<number, Float32Array>();

  /** `encode` may be omitted for a cache that is only read (e.g. one loaded from disk). */
  constructor(private readonly encode: EncodeFn | null = null, options: LatentCacheOptions = {}) {
    this.batchSize = check.positiveInt('latentCache.batchSize', options.batchSize ?? 32);
    this.meta = options.meta ?? {};
  }

  /** Cached entries. */
  get size(): number {
    return this.latents.size;
  }

  has(index: number): boolean {
    return this.latents.has(index);
  }

  /** The latent of item `index`; fails naming the index when it was never encoded. */
  get(index: number): Float32Array {
    const latent = this.latents.get(index);
    if (!latent) throw new RangeError(`LatentCache.get: item ${index} is not cached (${this.size} entries; call fill first)`);
    return latent;
  }

  set(index: number, latent: Float32Array): void {
    check.nonNegativeInt('latentCache.index', index);
    if (!(latent instanceof Float32Array)) throw new ConfigError(`latentCache[${index}]`, latent, 'a Float32Array');
    this.latents.set(index, latent);
  }

  /** Cached item indices, ascending. */
  indices(): number[] {
    return [...this.latents.keys()].sort((a, b) => a - b);
  }

  /**
   * Encode the items of `dataset` not cached yet (default: all), `batchSize` at a time. Captions are not
   * needed, so a private stream is passed to `get` and the global one is not advanced.
   */
  async fill(dataset: ImageDataset, indices: Iterable<number> = Array.from({ length: dataset.length }, (_, i) => i)): Promise<void> {
    if (!this.encode) throw new ConfigError('latentCache.encode', null, 'an encode function, given to the constructor, to fill the cache');
    const missing = [...new Set(indices)].filter((i) => !this.latents.has(i));
    const captions = new Rng('latent-cache');
    for (let s = 0; s < missing.length; s += this.batchSize) {
      const chunk = missing.slice(s, s + this.batchSize);
      const latents = await this.encode(chunk.map((i) => dataset.get(i, captions).image));
      if (!Array.isArray(latents) || latents.length !== chunk.length) {
        throw new ConfigError('latentCache.encode', Array.isArray(latents) ? `${latents.length} latents` : latents, `one latent per image (${chunk.length})`);
      }
      chunk.forEach((index, k) => this.set(index, latents[k]));
    }
  }

  /** Write `${basePath}.f32` (every latent, raw float32, in index order) and `${basePath}.json` (the index). */
  save(basePath: string): void {
    const order = this.indices();
    const total = order.reduce((n, i) => n + this.latents.get(i)!.length, 0);
    const data = new Float32Array(total);
    const entries: Array<[number, number, number]> = [];
    let offset = 0;
    for (const i of order) {
      const latent = this.latents.get(i)!;
      data.set(latent, offset);
      entries.push([i, offset, latent.length]);
      offset += latent.length;
    }
    const index: CacheIndex = { format: FORMAT, version: 1, dtype: 'float32', byteOrder: endianness(), meta: { ...this.meta }, entries };
    writeFileSync(`${basePath}.f32`, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    writeFileSync(`${basePath}.json`, JSON.stringify(index));
  }

  /** Read a cache written by `save`; `encode` lets it be filled further. */
  static load(basePath: string, encode: EncodeFn | null = null, options: Omit<LatentCacheOptions, 'meta'> = {}): LatentCache {
    const indexFile = `${basePath}.json`;
    const dataFile = `${basePath}.f32`;
    for (const f of [indexFile, dataFile]) if (!existsSync(f)) throw new Error(`LatentCache.load: ${f} not found`);
    const index = JSON.parse(readFileSync(indexFile, 'utf8')) as CacheIndex;
    if (index.format !== FORMAT || index.version !== 1 || index.dtype !== 'float32') {
      throw new Error(`LatentCache.load: ${indexFile} is not a version-1 float32 latent cache index`);
    }
    if (index.byteOrder !== endianness()) {
      throw new Error(`LatentCache.load: ${dataFile} was written ${index.byteOrder}, this machine is ${endianness()}`);
    }
    const bytes = readFileSync(dataFile);
    const total = index.entries.reduce((n, [, , length]) => n + length, 0);
    if (bytes.byteLength !== total * 4) {
      throw new Error(`LatentCache.load: ${dataFile} has ${bytes.byteLength} bytes, the index describes ${total * 4}`);
    }
    // Copy into an aligned buffer: a Buffer's offset into Node's pool need not be a multiple of 4.
    const data = new Float32Array(new Uint8Array(bytes).buffer);
    const cache = new LatentCache(encode, { ...options, meta: index.meta });
    for (const [i, offset, length] of index.entries) cache.set(i, data.slice(offset, offset + length));
    return cache;
  }
}
