/**
 * The built-in kinds of the noise process, one file each (or one section of a file): loading a file defines its
 * kinds (src/registry.ts), and the order here is the order error messages list them in. A new built-in kind is
 * its file plus one line here (docs/ARCHITECTURE.md, 'Adding a block').
 */
export * from './discrete';
export * from './sigmoid';
export * from './shifted';
export * from './zero-terminal-snr';
export * from './flow';
export * from './ddpm';
export * from './ddim';
export * from './euler';
export * from './dpm-solver';
