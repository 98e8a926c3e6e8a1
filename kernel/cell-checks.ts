/**
 * Side effect, on purpose: kernel/launch.ts imports this module FIRST, so the checking options are in place
 * before tslab's converter loads the TypeScript module (kernel/compiler-options.ts says why that order matters).
 */
import { installCompilerOptions } from './compiler-options';

export const cellChecks = installCompilerOptions();
