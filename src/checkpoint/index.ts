/** Checkpoints: the safetensors format, atomic writes, model + trainer checkpoints, and exactly resumable runs. */
export * from './safetensors';
export * from './atomic';
export * from './checkpoint';
export * from './session';
