/** Data: byte tokenizer, captioned image datasets, the mixed-modal sequence builder, batching, latent cache. */
export * from './tokenizer';
export * from './image';
export * from './mnist';
export * from './shapes';
export * from './captions-file';
export * from './folder';
export * from './sequence';
export * from './loader';
export * from './latent-cache';
