import { after, before } from 'node:test';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/engine';
import type { ExperimentSpec } from '../../src/experiments/experiment-config';

/**
 * The command line of `npm run report` without its argument: compiled, the built script (dist/scripts/report.js);
 * from sources, the script under ts-node.
 */
export const REPORT_COMMAND: readonly string[] = __filename.endsWith('.js')
  ? [join(__dirname, '../../scripts/report.js')]
  : ['-r', 'ts-node/register/transpile-only', join(__dirname, '../../scripts/report.ts')];

/** The smallest network the experiment tests train: one layer of width 32. */
export const TINY_NET = { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } as const;

/** A run of three steps of four pairs on the tiny network, without sample grids: seconds per run. */
export const TINY_SPEC: ExperimentSpec = {
  model: { net: TINY_NET },
  batchSize: 4,
  steps: 3,
  samples: null,
};

/**
 * Initialise the engine and give the file's tests a fresh temporary folder (handed to `set` before they run),
 * removed when they end.
 */
export function useTempRoot(prefix: string, set: (dir: string) => void): void {
  let root = '';
  before(async () => {
    await initEngine();
    root = fs.mkdtempSync(join(tmpdir(), prefix));
    set(root);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));
}
