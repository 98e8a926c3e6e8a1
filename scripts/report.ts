/**
 * Share a run or a sweep: `npm run report -- runs/<name>` writes runs/<name>/report.html (self-contained,
 * opens offline) and runs/<name>.zip (the whole folder, report included), and prints both paths.
 */
import { writeReport } from '../src/experiments/report';
import { zipRun } from '../src/experiments/zip';

function main(args: readonly string[]): number {
  if (args.length !== 1) {
    process.stderr.write('usage: npm run report -- runs/<name>   (a run folder, a sweep folder, or a folder of runs)\n');
    return 1;
  }
  try {
    const report = writeReport(args[0]);
    const zip = zipRun(args[0]);
    process.stdout.write(`report: ${report}\nzip:    ${zip}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
