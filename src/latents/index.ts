/** The latent pipeline: train an autoencoder, cache its latents per item, load latent batches, decode back to pixels. */
export * from './train';
export * from './encode';
export * from './loader';
