/**
 * `npm run train:mnist -- [steps] [batch]`: the bounded CPU run behind the lab's toy-scale quality numbers.
 * Trains the `mnist` preset (pixel space, 16 x 16 digits, patch 2) on MNIST captions, evaluates with the
 * reference digit classifier every `EVAL_EVERY` steps (default: at the end only), and saves the run
 * under runs/train-mnist with its checkpoint, metrics and a sample grid. Prints one JSON line per evaluation.
 */
import { initEngine } from '../src/engine/engine';
import { trainRun } from '../src/experiments/train-run';
import { cachedClassifier } from '../src/eval/classifier-cache';
import { evaluate } from '../src/eval/evaluate';

async function main(): Promise<void> {
  const steps = Number(process.argv[2] ?? 3000);
  const batchSize = Number(process.argv[3] ?? 16);
  const engine = await initEngine();
  console.log(engine.line);
  const { classifier, heldoutAccuracy } = await cachedClassifier();
  console.log(JSON.stringify({ classifier_heldout_accuracy: heldoutAccuracy }));
  const started = performance.now();
  const result = await trainRun({
    name: process.env.RUN_NAME ?? 'train-mnist',
    preset: 'mnist',
    steps,
    batchSize,
    seed: 0,
    train: { optimizer: { lr: 1e-3 } },
    onStep: (r) => {
      if (r.step % 100 === 0) console.log(JSON.stringify({ step: r.step, loss: +r.loss.toFixed(4), lm: +r.breakdown.lm.toFixed(4), diffusion: +r.breakdown.diffusion.toFixed(4), ms: Math.round(r.stepMs) }));
    },
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const row = await evaluate(result.model, { n: 20, steps: 50, guidance: 3, heldout: 200 }, { classifier });
  console.log(JSON.stringify({ ...row, train_steps: steps, batch_size: batchSize, train_seconds: Math.round(trainSeconds) }));
  result.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
