/**
 * `npm run kernel:install`: install the `transfusion` kernelspec into the user's Jupyter paths.
 * Exits non-zero with one sentence (no stack trace) when Jupyter is missing or the lab is not built.
 */
import { DISPLAY_NAME, installKernelSpec, KERNEL_NAME, launcherPath } from './kernelspec';
import { findLabRoot } from './resolve';

try {
  const launcher = launcherPath(findLabRoot());
  installKernelSpec(launcher);
  process.stdout.write(`Installed the Jupyter kernel '${KERNEL_NAME}' ("${DISPLAY_NAME}", ${launcher}); \`jupyter kernelspec list\` shows it.\n`);
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
}
