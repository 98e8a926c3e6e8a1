/**
 * The contract between the lab's objects and the kernel's display: a Jupyter MIME bundle.
 * Any object with a `toMimeBundle()` method is shown richly when it is a cell's last value or is passed
 * to `display()` (src/viz/display.ts); the kernel (kernel/) looks for exactly this method.
 */
export interface MimeBundle {
  /** MIME type -> content: strings for text types, JSON values for `application/*+json`, base64 for images. */
  readonly data: Readonly<Record<string, unknown>>;
  /** Per-MIME metadata, e.g. `{ 'image/png': { width: 280 } }`. */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

export interface HasMimeBundle {
  toMimeBundle(): MimeBundle;
}

export function hasMimeBundle(value: unknown): value is HasMimeBundle {
  return typeof value === 'object' && value !== null && typeof (value as { toMimeBundle?: unknown }).toMimeBundle === 'function';
}
