/**
 * Toy-scale evaluation of a Transfusion trained on MNIST digits: the reference digit classifier (trained once,
 * cached on disk), the Frechet distance on its features, caption parsing, held-out caption perplexity, and
 * `evaluate`, which returns one results-table row, and `probe`, a seconds-long look while a run trains.
 */
export * from './classifier';
export * from './classifier-train';
export * from './classifier-cache';
export * from './digits';
export * from './symmetric-eigen';
export * from './frechet';
export * from './caption-digit';
export * from './perplexity';
export * from './diffusion-loss';
export * from './evaluate';
export * from './probe';
