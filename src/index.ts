/**
 * Transfusion Lab: everything a notebook needs from one import, `import { ... } from 'transfusion-lab'`.
 * The folders stay importable on their own (`transfusion-lab/dist/src/schedules`) for finer-grained use.
 */
export { tf } from './engine/tf';
export * from './engine/engine';
export * from './engine/random';
export * from './engine/interrupt';
export * from './config';
export * from './registry';

export * from './blocks/module';
export * from './blocks/init';
export * from './blocks/linear';
export * from './blocks/layout';
export * from './blocks/gather';
export * from './blocks/rmsnorm';
export * from './blocks/rope';
export * from './blocks/dropout';
export * from './blocks/kvcache';
export * from './blocks/attention';
export * from './blocks/feedforward';
export * from './blocks/transformer';
export * from './blocks/embedding';
export * from './blocks/masks';
export * from './blocks/mask-materialize';
export * from './blocks/patchify';
export * from './blocks/patch';
export * from './blocks/timestep';
export * from './blocks/conv';
export * from './blocks/groupnorm';
export * from './blocks/resblock';
export * from './blocks/unet';
export * from './blocks/autoencoder';

export * from './schedules/index';
export * from './data/index';
export * from './train/adamw';
export * from './train/ema';
export * from './train/lr-schedule';
export * from './train/trainer';
export * from './model/config';
export * from './model/network';
export * from './model/objective';
export * from './model/transfusion';
export * from './generate/index';
export * from './checkpoint/index';
export * from './latents/index';
export * from './baseline/index';
export * from './eval/index';
export * from './experiments/index';
export * from './export/torch';
export * from './export/shards';
export * from './export/import';
export * from './viz/index';
