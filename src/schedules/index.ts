/**
 * The noise process: everything about diffusion that is not the network. The network never imports this folder;
 * the diffusion objective takes the model as an argument (docs/ARCHITECTURE.md, 'The network and the noise process').
 *
 * Time: continuous t in [0, 1], t = 0 clean, t = 1 pure noise, everywhere (docs/ARCHITECTURE.md, 'Time'). DDPM's
 * 0-based step i of T is t = (i + 1) / T (grid.ts); `discretize` gives the DDPM arrays on any T.
 *
 * - Schedules (schedule.ts, make-schedule.ts): x_t = alpha(t) x0 + sigma(t) eps, with alphaBar, logSnr and snr;
 *   kinds 'linear', 'scaled-linear', 'cosine' (the paper's, DEFAULT_SCHEDULE), 'sigmoid', 'flow' (rectified
 *   flow), and the wrappers 'shifted' (resolution shift of logSnr) and 'zero-terminal-snr' (Lin et al. 2024).
 * - Forward process and targets (forward.ts, targets.ts): `addNoise`, per-example `coefficients`, `makeTarget`
 *   for 'epsilon' | 'x0' | 'v' | 'flow', `predictionToX0Eps` and `convertPrediction` between them.
 * - Training time sampling (timestep-sampler.ts): 'uniform', 'logit-normal', 'discrete-uniform', each truncatable
 *   to (0, tMax] for noise limiting (NOISE_LIMIT_T_MAX = 0.5).
 * - Loss weighting (weighting.ts): 'constant', 'min-snr', 'p2', 'sd3-lognorm', 'sd3-cosmap', each converted to the
 *   target trained.
 * - Samplers (sampler.ts, ddpm.ts, ddim.ts, euler.ts, dpm-solver.ts for 'dpmpp-2m', make-sampler.ts): `timesteps()`
 *   then one `step` per network call, with 'linspace' | 'leading' | 'trailing' spacing (spacing.ts); `runSampler`
 *   is the loop, `cfgCombine` classifier-free guidance.
 * - Plot data (series.ts): `scheduleSeries`, `weightSeries`, `samplerDensitySeries`.
 *
 * Every piece is a plain-data config `{ kind, ... }` given in part and completed from its kind's defaults, or an
 * object built by the researcher. Each kind is defined once, in its own file, on its family's registry
 * (`schedules`, `timestepSamplers`, `weightings`, `predictionTargets`, `samplers`; src/registry.ts), and a notebook
 * defines its own the same way (`defineKind`) (docs/ARCHITECTURE.md, 'Configs', 'Registries' and 'Slots'); bad input throws
 * ConfigError naming field and value.
 */
export type { Schedule, ScheduleConfig, ScheduleKind, ScheduleKinds, ScheduleSpec, ScheduleFamily, ScheduleKindDefinition } from './schedule';
export { ScheduleBase, isSchedule, schedules, buildSchedule } from './schedule';
export { makeSchedule, DEFAULT_SCHEDULE, SCHEDULE_DEFAULTS } from './make-schedule';
// Every built-in kind's file (a new kind's exports become public through its one line in kinds.ts).
export * from './kinds';
export type { LinearScheduleConfig, ScaledLinearScheduleConfig, CosineScheduleConfig } from './discrete';
export { DEFAULT_LINEAR_SCHEDULE, DEFAULT_SCALED_LINEAR_SCHEDULE, DEFAULT_COSINE_SCHEDULE } from './discrete';
export { GridSchedule, alphaBarFromBetas } from './grid';
export { type SigmoidScheduleConfig, DEFAULT_SIGMOID_SCHEDULE, SigmoidSchedule, checkSigmoidSchedule } from './sigmoid';
export { type FlowScheduleConfig, DEFAULT_FLOW_SCHEDULE, FlowSchedule } from './flow';
export { type ShiftedScheduleConfig, DEFAULT_SHIFTED_SCHEDULE, ShiftedSchedule } from './shifted';
export { type ZeroTerminalSnrScheduleConfig, DEFAULT_ZERO_TERMINAL_SNR_SCHEDULE, rescaleZeroTerminalSnr } from './zero-terminal-snr';
export { discretize, type DiscreteSchedule } from './discretize';
export { type TimestepSpacing, TIMESTEP_SPACINGS, spacedIndices } from './spacing';
export { addNoise, coefficients, type Coefficients } from './forward';
export {
  type PredictionKind, type Coefficient, type Rates,
  type PredictionKinds, type PredictionTargetDefinition, type TargetCoefficients,
  PREDICTION_KINDS, DEFAULT_PREDICTION, RECTIFIED_FLOW_RATES, predictionTargets, predictionTarget, predictionNeedsRates,
  makeTarget, predictionToX0Eps, convertPrediction,
} from './targets';
export {
  type TimestepSampler, type TimestepSamplerConfig, type TimestepSamplerSpec, type TimestepOptions,
  type TimestepSamplerKinds, type TimestepSamplerKindDefinition,
  DEFAULT_TIMESTEP_SAMPLER, TIMESTEP_SAMPLER_DEFAULTS, NOISE_LIMIT_T_MAX, makeTimestepSampler, buildTimestepSampler,
  timestepSamplers, InverseCdfSampler,
} from './timestep-sampler';
export {
  type Weighting, type WeightingConfig, type WeightingSpec,
  type WeightingKinds, type WeightingKindDefinition,
  DEFAULT_WEIGHTING, WEIGHTING_DEFAULTS, makeWeighting, buildWeighting, epsilonFactor, weightings, NativeWeighting,
} from './weighting';
export {
  type Sampler, type SamplerConfig, type SamplerStepInput, type SamplerStepOutput, type StepState,
  type SamplerKinds, type SamplerKindDefinition,
  SamplerBase, CONTINUOUS_GRID, samplers, isSampler,
} from './sampler';
export { type DdpmSamplerConfig, DEFAULT_DDPM_SAMPLER, DdpmSampler, ddpmPosterior, type Posterior } from './ddpm';
export { type DdimSamplerConfig, DEFAULT_DDIM_SAMPLER, DdimSampler } from './ddim';
export { type EulerSamplerConfig, DEFAULT_EULER_SAMPLER, EulerSampler } from './euler';
export { type DpmSolverSamplerConfig, DEFAULT_DPM_SOLVER_SAMPLER, DpmSolverSampler } from './dpm-solver';
export { makeSampler, DEFAULT_SAMPLER, SAMPLER_DEFAULTS, type SamplerSpec } from './make-sampler';
export { runSampler, type SampleLoopOptions, type SampleStepInfo } from './sample-loop';
export { cfgCombine } from './guidance';
export { scheduleSeries, weightSeries, samplerDensitySeries, describeConfig, type ScheduleSeriesData, type CurveSeriesData, type WeightSeriesOptions } from './series';
export { normalCdf, normalPdf, normalQuantile, logitNormalPdf } from './normal';
