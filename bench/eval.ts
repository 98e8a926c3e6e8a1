/**
 * `npm run bench:eval -- [--checkpoint PATH] [--setting JSON ...] [--repeats N] [--quick]`: how long the lab's
 * evaluation (src/eval/evaluate.ts) takes, part by part, and what each sampler setting scores, on one model.
 *
 * The evaluation is the speedrun's (scripts/speedrun.ts): 200 generated digits (20 per digit, guidance 3) and 200
 * held-out digits captioned, then held-out perplexity and diffusion_mse. Its parts are timed without touching
 * evaluate: the text-to-image and caption generators it calls are wrapped with a clock, and the rest (the
 * classifier's features, FID, perplexity, diffusion_mse) is the remainder of the total.
 *
 * Each `--setting` is a JSON object with the evaluation's `steps` and sampler kind (EvalConfig's fields), e.g.
 * '{"steps":50,"sampler":"ddim"}' (the default) or '{"steps":15,"sampler":"dpmpp-2m"}'.
 * Give several to compare them on the same model and the same noise: a setting may replace the default only
 * where its scores stay within the sampling noise of the default's (issue #11, item 3: "fewer DDIM steps only if
 * the score does not move").
 *
 * Without `--checkpoint` the model is an untrained `mnist` one: its timings hold (the work does not depend on
 * the weights, except that an untrained model's captions may run to the 32-token limit), its scores mean
 * nothing. A checkpoint from `npm run speedrun -- --save DIR` gives both. Every setting runs `--repeats` times
 * (default 1) and the median time is shown. `--quick` evaluates 10 images and 10 captions at 2 steps: it checks the
 * harness end to end (test/bench/eval.test.ts); its numbers mean nothing.
 *
 * Speed is measured here, never in tests; run it on an otherwise idle machine.
 */
import { tf } from '../src/engine/tf';
import { initEngine, engineInfo } from '../src/engine/engine';
import { Rng, setSeed } from '../src/engine/random';
import { Transfusion } from '../src/model/transfusion';
import { restore } from '../src/checkpoint/checkpoint';
import { cachedClassifier } from '../src/eval/classifier-cache';
import { evaluate, LAB_GENERATORS, type EvalGenerators, type EvalRow } from '../src/eval/evaluate';

interface Setting {
  readonly steps: number;
  /** A sampler kind (src/schedules), e.g. 'ddim' or 'dpmpp-2m'. */
  readonly sampler: string;
}

interface Args {
  checkpoint: string | null;
  settings: Setting[];
  repeats: number;
  quick: boolean;
}

const DEFAULT_SETTING: Setting = { steps: 50, sampler: 'ddim' };

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { checkpoint: null, settings: [], repeats: 1, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--quick') {
      args.quick = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`bench:eval: ${flag} needs a value`);
    if (flag === '--checkpoint') args.checkpoint = value;
    else if (flag === '--repeats') {
      args.repeats = Number(value);
      if (!Number.isInteger(args.repeats) || args.repeats < 1) throw new Error(`bench:eval: --repeats '${value}' is not a positive integer`);
    } else if (flag === '--setting') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        throw new Error(`bench:eval: --setting '${value}' is not JSON; write e.g. '{"steps":15,"sampler":"dpmpp-2m"}'`);
      }
      const s = parsed as Partial<Setting>;
      if (typeof s !== 'object' || s === null || !Number.isInteger(s.steps) || (s.steps as number) < 1) {
        throw new Error(`bench:eval: --setting '${value}' needs "steps", a positive integer`);
      }
      if (s.sampler !== undefined && typeof s.sampler !== 'string') throw new Error(`bench:eval: --setting '${value}': "sampler" is a kind name such as "dpmpp-2m"`);
      args.settings.push({ steps: s.steps as number, sampler: s.sampler ?? 'ddim' });
    } else throw new Error(`bench:eval: unknown flag '${flag}' (known: --checkpoint, --setting, --repeats, --quick)`);
  }
  if (args.settings.length === 0) args.settings.push(DEFAULT_SETTING);
  return args;
}

/** `f` with its calls' seconds added to `clock[part]`. */
function clocked<A extends unknown[], R>(clock: { t2i: number; caption: number }, part: 't2i' | 'caption', f: (...args: A) => R | Promise<R>) {
  return async (...args: A): Promise<R> => {
    const start = performance.now();
    try {
      return await f(...args);
    } finally {
      clock[part] += (performance.now() - start) / 1000;
    }
  };
}

/** The lab's generators with a clock around each call. */
function timed(clock: { t2i: number; caption: number }): EvalGenerators {
  return { textToImage: clocked(clock, 't2i', LAB_GENERATORS.textToImage), caption: clocked(clock, 'caption', LAB_GENERATORS.caption) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

export interface SettingResult {
  readonly setting: Setting;
  readonly row: EvalRow;
  /** Median seconds over the repeats: the whole evaluation and its parts. */
  readonly seconds: { readonly total: number; readonly t2i: number; readonly caption: number; readonly rest: number };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await initEngine();
  setSeed(0);
  const model = args.checkpoint ? restore(args.checkpoint).model : Transfusion.create('mnist', {}, new Rng(0));
  const { classifier } = await cachedClassifier();
  console.log(JSON.stringify({ engine: engineInfo(), model: args.checkpoint ?? 'untrained mnist', repeats: args.repeats, quick: args.quick }));
  const sizes = args.quick ? { n: 1, heldout: 10 } : { n: 20, heldout: 200 };
  const results: SettingResult[] = [];
  try {
    for (const setting of args.settings) {
      const times = { total: [] as number[], t2i: [] as number[], caption: [] as number[], rest: [] as number[] };
      let row: EvalRow | null = null;
      for (let r = 0; r < args.repeats; r++) {
        const clock = { t2i: 0, caption: 0 };
        const before = tf.memory().numTensors;
        const start = performance.now();
        row = await evaluate(
          model,
          { ...sizes, steps: args.quick ? 2 : setting.steps, sampler: setting.sampler, guidance: 3 },
          { classifier, generators: timed(clock) },
        );
        const total = (performance.now() - start) / 1000;
        if (tf.memory().numTensors !== before) throw new Error(`bench:eval: evaluate leaked ${tf.memory().numTensors - before} tensors`);
        times.total.push(total);
        times.t2i.push(clock.t2i);
        times.caption.push(clock.caption);
        times.rest.push(total - clock.t2i - clock.caption);
      }
      const seconds = { total: median(times.total), t2i: median(times.t2i), caption: median(times.caption), rest: median(times.rest) };
      const result = { setting, row: row!, seconds };
      results.push(result);
      console.log(JSON.stringify(result));
    }
  } finally {
    classifier.dispose();
    model.dispose();
  }
  console.log('');
  console.log('| sampler | steps | total s | text-to-image s | captions s | rest s | t2i acc | caption acc | FID | diffusion_mse |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { setting, row, seconds: s } of results) {
    console.log(
      `| ${setting.sampler} | ${row.steps} | ${s.total.toFixed(1)} | ${s.t2i.toFixed(1)} | ${s.caption.toFixed(1)} | ${s.rest.toFixed(1)} | ${row.t2i_accuracy.toFixed(3)} | ${row.caption_accuracy.toFixed(3)} | ${row.fid.toFixed(1)} | ${row.diffusion_mse.toFixed(4)} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
