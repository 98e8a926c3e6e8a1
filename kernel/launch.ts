/**
 * The `transfusion` Jupyter kernel: `node dist/kernel/launch.js <connection_file>`, which is what the
 * kernelspec (kernel/kernelspec.ts) runs. Built on tslab 1.0.22 (pinned): its compiler and executor run the
 * cells; kernel/handler.ts and kernel/server.ts fix the protocol around them (see those files).
 *
 * Start-up, in order:
 *   1. module resolution, so cells in any folder import 'transfusion-lab' (kernel/resolve.ts), and stack traces in
 *      terms of cells as typed and the lab's .ts sources (kernel/traceback.ts), so start-up errors read that way too;
 *   2. the engine (src/engine/engine.ts) and the lab's package entry, preloaded so the first cell is fast and
 *      shares this process's instances; the engine's one-line report goes into the kernel's banner;
 *   3. tslab's compiler, warmed before the first request like tslab's own `startKernel` does, type-checking cells
 *      with the checking options of the nearest tsconfig.json, else strict (kernel/compiler-options.ts; set up by
 *      the first import below, before tslab loads), its type checker shared with inspection (kernel/inspect-fields.ts,
 *      the second import);
 *   4. SIGINT (Jupyter's `interrupt_mode: signal`): the first raises the lab's cooperative interrupt
 *      (src/engine/interrupt.ts), which training loops poll between steps; a second one while the flag is
 *      still up also abandons the awaited promise, for a cell that never polls;
 *   5. the guard (kernel/guard.ts): a cell cannot end the process, and errors nobody caught are reported;
 *   6. the display hook `globalThis[Symbol.for('transfusion.kernel')]` for src/viz's `display()` and
 *      `clearOutput()`, and tensors printed like PyTorch's by console.log.
 */
// First: it must run before tslab's converter loads (kernel/cell-checks.ts).
import { cellChecks } from './cell-checks';
// Second, before tslab's converter loads too: inspection inside a call lists the options' fields (kernel/inspect-fields.ts).
import { fieldsAvailable } from './inspect-fields';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { versions } from 'tslab';
import { Converter, createConverter } from 'tslab/dist/converter';
import { ConverterSet, createExecutor } from 'tslab/dist/executor';
import { initEngine } from '../src/engine/engine';
import { interruptRequested, requestInterrupt } from '../src/engine/interrupt';
import { describeCheckOptions } from './compiler-options';
import { installDisplayHook, installTensorInspect } from './display';
import { exitKernel, guardProcess } from './guard';
import { CellConsole, LabHandler } from './handler';
import { installLabResolution, PACKAGE_NAME } from './resolve';
import { LabServer } from './server';
import { installTracebacks } from './traceback';

/** tslab's converters, created on first use (a browser-mode cell is rare; its compiler costs a second). */
function converters(): ConverterSet {
  let node: Converter | undefined;
  let browser: Converter | undefined;
  return {
    get node() {
      return (node ??= createConverter({ isJS: false, isBrowser: false }));
    },
    get browser() {
      return (browser ??= createConverter({ isJS: false, isBrowser: true }));
    },
    close() {
      node?.close();
      browser?.close();
    },
  };
}

/** Initialise the engine and load the lab's entry; returns the banner's engine line. */
async function preloadLab(root: string, log: (line: string) => void): Promise<string> {
  let engineLine: string;
  try {
    engineLine = (await initEngine()).line;
  } catch (e) {
    // A kernel that dies at start-up only shows "kernel restarting" in a notebook; start, and say why here.
    engineLine = `engine: not initialised (${(e as Error).message})`;
    log(`transfusion kernel: ${engineLine}`);
  }
  let entry: string | undefined;
  try {
    entry = require.resolve(PACKAGE_NAME);
  } catch {
    log(`transfusion kernel: ${PACKAGE_NAME} has no built entry under ${root}; run \`npm run build\` there to import it in cells`);
  }
  if (entry) require(entry);
  return engineLine;
}

async function main(): Promise<void> {
  const connectionFile = process.argv[2];
  if (!connectionFile) {
    process.stderr.write('usage: node dist/kernel/launch.js <connection_file> (Jupyter runs this; install it with `npm run kernel:install`)\n');
    process.exit(2);
  }
  // Cells take over stdout and stderr; the kernel's own messages keep going to Jupyter's log.
  const stderr = process.stderr.write.bind(process.stderr);
  const log = (line: string): void => void stderr(`${line}\n`);

  if (cellChecks.problem) log(`transfusion kernel: ${describeCheckOptions(cellChecks)}`);
  if (!fieldsAvailable) log('transfusion kernel: tslab loaded before kernel/inspect-fields.ts; inspection inside a call shows no option fields');
  const root = installLabResolution();
  installTracebacks(root);
  const engineLine = await preloadLab(root, log);
  const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

  const convs = converters();
  // Build the compiler now (seconds: lib and @types declarations), not in the user's first cell.
  void convs.node;
  const cellConsole = new CellConsole();
  const executor = createExecutor(process.cwd(), convs, cellConsole);
  const handler = new LabHandler(executor, cellConsole, {
    version,
    banner: `Transfusion Lab ${version}: TypeScript ${versions.typescript} on Node ${versions.node} (tslab ${versions.tslab})\n${engineLine}\n${describeCheckOptions(cellChecks)}`,
  });

  const interrupt = (): void => {
    if (interruptRequested()) executor.interrupt();
    else requestInterrupt();
  };
  process.on('SIGINT', interrupt);
  // After the preload, which is what installs the listeners the guard replaces (kernel/guard.ts).
  guardProcess();
  installDisplayHook(() => handler.outputArea(), (resource, force) => handler.carry(resource, force));
  installTensorInspect();

  await new LabServer(handler, connectionFile, interrupt, log).init();
}

main().catch((e: Error) => {
  process.stderr.write(`transfusion kernel failed to start: ${e.stack ?? e.message}\n`);
  exitKernel(1);
});
