/**
 * Generation (Zhou et al. 2024, §3): `generate` alternates LM mode and diffusion mode over one sequence;
 * `textToImage` and `caption` are the batched one-way shortcuts evaluation uses; `denoiseImages` is the diffusion
 * mode alone, for a notebook that builds its own context. Options are plain data (DEFAULT_GENERATE).
 */
export { DEFAULT_GENERATE, resolveGenerateOptions, type GenerateOptions } from './options';
export { sampleToken, type TokenSampling } from './sample-token';
export { layoutRows, windowInput, type ContextRow, type ContextImage, type RowsLayout, type FreshImage } from './rows';
export { TokenStepper } from './token-stepper';
export { denoiseImages, NonFiniteOutputError, type DenoiseOptions, type DenoiseResult, type Trajectory } from './denoise';
export {
  generate, promptIds, disposeResult, imageSampler,
  type GeneratedPart, type GenerateResult, type GenerateInputs, type StopReason,
} from './generate';
export { textToImage, caption, type BatchInputs } from './batch';
