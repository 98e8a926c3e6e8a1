/**
 * A Transfusion: the network, its objective and the config that built both, in one object a notebook
 * holds. `Transfusion.create('tiny', overrides)` builds from a preset; `new Transfusion(savedConfig)` rebuilds a
 * saved run's architecture exactly (docs/ARCHITECTURE.md, 'Configs'). Shown as a cell's value, it displays its
 * architecture summary and parameter count.
 */
import { Rng, rng as globalRng } from '../engine/random';
import type { DeepPartial } from '../config';
import type { MixedBatch } from '../data/sequence';
import type { LossOutput } from '../train/trainer';
import { resolveConfig, validateConfig, type PresetName, type TransfusionConfig } from './config';
import { TransfusionNet } from './network';
import { TransfusionObjective } from './objective';
import { ModelFacade } from './facade';

export class Transfusion extends ModelFacade<TransfusionNet> {
  readonly config: TransfusionConfig;
  readonly net: TransfusionNet;
  readonly objective: TransfusionObjective;

  /** Build from a full config (validated). The initialisation draws from `rng` (default: the global stream). */
  constructor(config: TransfusionConfig, rng: Rng = globalRng()) {
    super();
    this.config = validateConfig(config);
    this.net = new TransfusionNet(this.config.net, rng.fork('init'));
    this.objective = new TransfusionObjective(this.config.objective);
  }

  /** Build from a preset with overrides, e.g. `Transfusion.create('mnist', { objective: { lambda: 2 } })`. */
  static create(preset: PresetName | TransfusionConfig = 'tiny', overrides: DeepPartial<TransfusionConfig> = {}, rng?: Rng): Transfusion {
    return new Transfusion(resolveConfig(preset, overrides), rng);
  }

  /** L = L_LM + lambda L_DDPM on a batch whose images are latents on `config.net.latent`. */
  loss(batch: MixedBatch, rng: Rng = globalRng()): LossOutput {
    return this.objective.loss(this.net, batch, rng);
  }

  protected readonly title = 'Transfusion';

  protected objectiveLine(): string {
    const o = this.config.objective;
    return `objective: L_LM + ${o.lambda} * L_diffusion; schedule ${o.schedule.kind}, predict ${o.prediction}, ` +
      `t ~ ${o.timesteps.kind}, weighting ${o.weighting.kind}, noise limiting ${o.noiseLimit ? `t <= ${o.noiseLimitTMax} for image-first` : 'off'}`;
  }
}
