/**
 * Inline displays and the standard plots of the lab: everything a notebook imports from one place
 * (`import { display, lossCurves, imageGrid } from '../src/viz'`).
 */
export * from './mime';
export * from './display';
export * from './figure';
export * from './subplots';
export * from './loss-curves';
export * from './schedule-curves';
export * from './mask-heatmap';
export * from './ablation-plots';
export * from './image';
export * from './image-grid';
export * from './animation';
export * from './table';
export * from './progress';
export * from './bullets';
