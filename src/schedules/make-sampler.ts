/**
 * `makeSampler`, the sampler slot's factory (docs/ARCHITECTURE.md, 'Slots'): a built sampler passes through, a
 * spec is resolved against its kind's definition (src/registry.ts) and built on a schedule. The kinds define
 * themselves in their own files (ddpm.ts, ddim.ts, euler.ts), which kinds.ts loads.
 */
import './kinds';
import type { Schedule } from './schedule';
import type { Spec } from './spec';
import { samplers, type Sampler, type SamplerConfig } from './sampler';
import { DEFAULT_DDPM_SAMPLER } from './ddpm';

/** Each built-in kind's complete default config. */
export const SAMPLER_DEFAULTS = samplers.defaultsTable();

/**
 * Ancestral DDPM with the paper's 250 steps (Transfusion Sec. 4.1). The paper trains with the DDPM objective and
 * does not name its sampler; DDIM (eta = 0) with fewer steps is the usual faster choice.
 */
export const DEFAULT_SAMPLER: SamplerConfig = DEFAULT_DDPM_SAMPLER;

/** A built sampler (docs/ARCHITECTURE.md, 'Slots') or a config with only the fields to change. */
export type SamplerSpec = Sampler | Spec<SamplerConfig>;

/** Build a sampler for a schedule from a (partial) config; bad kinds and fields throw ConfigError. */
export function makeSampler(spec: SamplerSpec, schedule: Schedule, field = 'sampler'): Sampler {
  return samplers.make(spec, field, (definition, config, context) => definition.build(config, context, schedule));
}
