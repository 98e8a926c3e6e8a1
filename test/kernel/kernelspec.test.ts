/**
 * `npm run kernel:install` (dist/kernel/install.js) and `npm start` (dist/kernel/start.js), run as a user
 * would, against private Jupyter folders: the kernelspec lands in the user's Jupyter paths and
 * `jupyter kernelspec list` shows it; without Jupyter, one sentence and a non-zero exit; the notebook
 * server starts on localhost and offers the kernel.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DISPLAY_NAME, installKernelSpec, kernelSpec } from '../../kernel/kernelspec';
import { ensureBuilt, LAUNCHER, ROOT } from './harness';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'transfusion-install-'));
const INSTALL = path.join(ROOT, 'dist', 'kernel', 'install.js');
const START = path.join(ROOT, 'dist', 'kernel', 'start.js');

/** Jupyter folders of a user who has nothing installed yet. */
function userEnv(name: string): NodeJS.ProcessEnv {
  const home = path.join(scratch, name);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_DATA_DIR: path.join(home, 'data'),
    JUPYTER_CONFIG_DIR: path.join(home, 'config'),
    JUPYTER_RUNTIME_DIR: path.join(home, 'runtime'),
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
  delete env.JUPYTER_PATH;
  delete env.JUPYTER;
  return env;
}

before(() => ensureBuilt());
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('the kernelspec runs the launcher with an absolute node and interrupts by signal', () => {
  assert.deepEqual(kernelSpec('/lab/dist/kernel/launch.js', '/usr/bin/node'), {
    argv: ['/usr/bin/node', '/lab/dist/kernel/launch.js', '{connection_file}'],
    display_name: 'Transfusion Lab (TypeScript)',
    language: 'typescript',
    interrupt_mode: 'signal',
  });
});

test('kernel:install puts the transfusion kernelspec in the user Jupyter paths, and kernelspec list shows it', () => {
  const env = userEnv('installed');
  const install = spawnSync(process.execPath, [INSTALL], { env, encoding: 'utf8' });
  assert.equal(install.status, 0, install.stderr);
  assert.match(install.stdout, /Installed the Jupyter kernel 'transfusion'/);
  const list = spawnSync('jupyter', ['kernelspec', 'list', '--json'], { env, encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const spec = (JSON.parse(list.stdout) as { kernelspecs: Record<string, { resource_dir: string; spec: Record<string, unknown> }> }).kernelspecs.transfusion;
  assert.ok(spec, list.stdout);
  assert.equal(spec.resource_dir, path.join(env.JUPYTER_DATA_DIR!, 'kernels', 'transfusion'));
  assert.deepEqual(spec.spec.argv, [process.execPath, LAUNCHER, '{connection_file}']);
  assert.equal(spec.spec.display_name, DISPLAY_NAME);
  assert.equal(spec.spec.interrupt_mode, 'signal');
  assert.match(spawnSync('jupyter', ['kernelspec', 'list'], { env, encoding: 'utf8' }).stdout, /^\s+transfusion\s/m);
  // Installing again replaces the spec rather than failing.
  assert.equal(spawnSync(process.execPath, [INSTALL], { env, encoding: 'utf8' }).status, 0);
});

test('without Jupyter, install says how to get it in one sentence, exits non-zero, shows no stack trace', () => {
  const env = { ...userEnv('no-jupyter'), PATH: path.join(scratch, 'empty-bin') };
  const run = spawnSync(process.execPath, [INSTALL], { env, encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.equal(run.stdout, '');
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], /^Jupyter was not found .*sudo apt-get install jupyter-notebook.*pip install notebook.*\.$/);

  const fake = path.join(scratch, 'jupyter-without-client');
  fs.writeFileSync(fake, "#!/bin/sh\necho \"Error executing Jupyter command 'kernelspec': jupyter: 'kernelspec' is not a Jupyter command\" >&2\nexit 1\n", { mode: 0o755 });
  const partial = spawnSync(process.execPath, [INSTALL], { env: { ...userEnv('partial'), JUPYTER: fake }, encoding: 'utf8' });
  assert.equal(partial.status, 1);
  assert.match(partial.stderr.trim(), /^`.*jupyter-without-client` has no kernelspec command \(jupyter_client is missing\): install Jupyter with/);
  assert.doesNotMatch(partial.stderr, /\n\s+at /);
});

test('install refuses a missing launcher, naming the build step', () => {
  assert.throws(() => installKernelSpec(path.join(scratch, 'nowhere', 'launch.js')), /run `npm run build` first/);
});

test('npm start installs the kernel and serves notebooks/ on localhost, without a browser when asked', { timeout: 90_000 }, async () => {
  const env = { ...userEnv('started'), TRANSFUSION_NO_BROWSER: '1' };
  const port = 20000 + (process.pid % 20000);
  const child = spawn(process.execPath, [START, `--port=${port}`, '--port-retries=0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        log += chunk.toString();
        const found = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/.exec(log);
        if (found) resolve(found[1]);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', (code) => reject(new Error(`npm start exited (${code}) before serving:\n${log}`)));
    });
    const token = new URL(url).searchParams.get('token');
    const specs = (await (await fetch(`http://127.0.0.1:${port}/api/kernelspecs?token=${token}`)).json()) as { kernelspecs: Record<string, { spec: { display_name: string } }> };
    assert.equal(specs.kernelspecs.transfusion?.spec.display_name, DISPLAY_NAME);
    const contents = (await (await fetch(`http://127.0.0.1:${port}/api/contents?token=${token}`)).json()) as { content: { name: string }[] };
    const served = contents.content.map((c) => c.name).sort();
    assert.deepEqual(served, fs.readdirSync(path.join(ROOT, 'notebooks')).filter((n) => !n.startsWith('.')).sort(), 'the notebook root is notebooks/');
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
});
