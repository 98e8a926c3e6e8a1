/**
 * `npm run export:torch -- runs/<name> <outDir>`: write the PyTorch project of a finished run (src/export/torch.ts):
 * model.py, objective.py, train.py, config.json, train_config.json, the weights and the trainer's state in
 * PyTorch's layout (docs/CHECKPOINTS.md).
 * `npm run export:torch -- --import <checkpoint> runs/<name>`: make the checkpoint train.py wrote the run's own
 * (src/export/import.ts), so loadRun and evaluate open the run at its new step.
 */
import { initEngine } from '../src/engine/engine';
import { exportTorch } from '../src/export/torch';
import { importTorch } from '../src/export/import';

const USAGE = 'usage: npm run export:torch -- runs/<name> <outDir>\n       npm run export:torch -- --import <checkpoint.safetensors> runs/<name>\n';

async function main(args: readonly string[]): Promise<number> {
  const importing = args[0] === '--import';
  if (args.length !== (importing ? 3 : 2)) {
    process.stderr.write(USAGE);
    return 1;
  }
  await initEngine();
  try {
    if (importing) {
      const result = await importTorch(args[1], args[2]);
      process.stdout.write(`${result.dir}: steps ${result.from} to ${result.steps} trained by ${result.engine}\n`);
    } else {
      const result = exportTorch(args[0], args[1]);
      process.stdout.write(`${result.dir}: ${result.files.join(', ')}\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => (process.exitCode = code));
