/** The inference-sampler registry (docs/ARCHITECTURE.md, 'Registries'). */
import { fromRegistry } from '../config';
import type { Schedule } from './schedule';
import { resolveSpec, type Spec } from './spec';
import type { Sampler, SamplerConfig } from './sampler';
import { DEFAULT_DDPM_SAMPLER, DdpmSampler } from './ddpm';
import { DEFAULT_DDIM_SAMPLER, DdimSampler } from './ddim';
import { DEFAULT_EULER_SAMPLER, EulerSampler } from './euler';

export const SAMPLER_DEFAULTS: { readonly [K in SamplerConfig['kind']]: Extract<SamplerConfig, { kind: K }> } = {
  ddpm: DEFAULT_DDPM_SAMPLER,
  ddim: DEFAULT_DDIM_SAMPLER,
  euler: DEFAULT_EULER_SAMPLER,
};

/**
 * Ancestral DDPM with the paper's 250 steps (Transfusion Sec. 4.1). The paper trains with the DDPM objective and
 * does not name its sampler; DDIM (eta = 0) with fewer steps is the usual faster choice.
 */
export const DEFAULT_SAMPLER: SamplerConfig = DEFAULT_DDPM_SAMPLER;

/** A built sampler (docs/ARCHITECTURE.md, 'Slots') or a config with only the fields to change. */
export type SamplerSpec = Sampler | Spec<SamplerConfig>;

function isSampler(value: unknown): value is Sampler {
  const v = value as Partial<Sampler> | null;
  return typeof v?.step === 'function' && typeof v.timesteps === 'function';
}

/** Build a sampler for a schedule from a (partial) config; bad kinds and fields throw ConfigError. */
export function makeSampler(spec: SamplerSpec, schedule: Schedule, field = 'sampler'): Sampler {
  if (isSampler(spec)) return spec;
  const config = resolveSpec<SamplerConfig>(SAMPLER_DEFAULTS, spec, field);
  return fromRegistry<SamplerConfig, Sampler>(
    {
      ddpm: (c) => new DdpmSampler(c, schedule, field),
      ddim: (c) => new DdimSampler(c, schedule, field),
      euler: (c) => new EulerSampler(c, schedule, field),
    },
    config,
    field,
  );
}
