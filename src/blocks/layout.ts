/**
 * What each position of a sequence is: the common language of the sequence builder (src/data) and the
 * attention-mask builders (masks.ts). Plain data, one entry per position.
 */
export interface SequenceLayout {
  /** Sequence length L. */
  readonly length: number;
  /** Image index per position: -1 for text (BOI, EOI and PAD count as text), else 0, 1, ... per image. */
  readonly image: Int32Array;
  /** Packed-document index per position (0 everywhere for an unpacked sequence). */
  readonly document: Int32Array;
}

/** A layout from a compact description: ['text', n] and ['image', n] runs, optionally in several documents. */
export function layoutFromRuns(documents: ReadonlyArray<ReadonlyArray<readonly ['text' | 'image', number]>>): SequenceLayout {
  const image: number[] = [];
  const document: number[] = [];
  let nextImage = 0;
  documents.forEach((runs, d) => {
    for (const [kind, n] of runs) {
      const id = kind === 'image' ? nextImage++ : -1;
      for (let i = 0; i < n; i++) {
        image.push(id);
        document.push(d);
      }
    }
  });
  return { length: image.length, image: Int32Array.from(image), document: Int32Array.from(document) };
}
