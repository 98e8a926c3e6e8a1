/**
 * `npm start`: install the kernelspec, then serve the lab's notebooks/ with Jupyter Notebook on localhost.
 *
 *   npm start                      opens a browser where there is a display
 *   npm start -- --no-browser      never opens one (also: NO_BROWSER=1 or TRANSFUSION_NO_BROWSER=1)
 *   npm start -- --port=8890       any other argument goes to `jupyter notebook` as is
 *
 * On Linux without DISPLAY or WAYLAND_DISPLAY (a server, a container, CI) no browser is opened either:
 * there is none to open, and Jupyter would otherwise try a text-mode one in the terminal. Run as root (a
 * container), it passes Jupyter's --allow-root. The server listens on 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { installKernelSpec, JupyterMissingError, jupyterCommand, launcherPath } from './kernelspec';
import { findLabRoot } from './resolve';

const set = (name: string): boolean => Boolean(process.env[name]) && process.env[name] !== '0';

function headless(): boolean {
  // NO_BROWSER is what the README documents; TRANSFUSION_NO_BROWSER was the first name, kept for old scripts.
  // `npm start --no-browser` (no `--`) reaches npm, not this script: npm passes it on as an empty npm_config_browser.
  const npmBrowser = process.env.npm_config_browser;
  if (set('NO_BROWSER') || set('TRANSFUSION_NO_BROWSER') || npmBrowser === '' || npmBrowser === 'false') return true;
  return process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
}

function main(): void {
  const root = findLabRoot();
  try {
    installKernelSpec(launcherPath(root));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
  const passed = process.argv.slice(2);
  const args = ['notebook', `--notebook-dir=${path.join(root, 'notebooks')}`, '--ip=127.0.0.1', ...passed];
  if (headless() && !passed.includes('--no-browser')) args.push('--no-browser');
  // Jupyter refuses to run as root without this; root is the norm in containers, where the lab often runs.
  if (process.getuid?.() === 0 && !passed.includes('--allow-root')) args.push('--allow-root');
  const jupyter = jupyterCommand();
  const child = spawn(jupyter, args, { stdio: 'inherit' });
  // Ctrl-C reaches Jupyter too, which asks whether to shut down; this process waits for its answer.
  process.on('SIGINT', () => undefined);
  // A supervisor's SIGTERM must not orphan the server.
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('error', (e: NodeJS.ErrnoException) => {
    const message = e.code === 'ENOENT' ? new JupyterMissingError(`Jupyter was not found (no \`${jupyter}\` command)`).message : e.message;
    process.stderr.write(`${message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

main();
