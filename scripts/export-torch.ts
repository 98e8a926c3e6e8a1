/**
 * `npm run export:torch -- runs/<name> <outDir>`: write the PyTorch project of a finished run (src/export/torch.ts):
 * model.py, objective.py, train.py, config.json and the weights in PyTorch's layout (docs/CHECKPOINTS.md).
 */
import { initEngine } from '../src/engine/engine';
import { exportTorch } from '../src/export/torch';

async function main(args: readonly string[]): Promise<number> {
  if (args.length !== 2) {
    process.stderr.write('usage: npm run export:torch -- runs/<name> <outDir>\n');
    return 1;
  }
  await initEngine();
  try {
    const result = exportTorch(args[0], args[1]);
    process.stdout.write(`${result.dir}: ${result.files.join(', ')}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => (process.exitCode = code));
