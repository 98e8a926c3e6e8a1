#!/usr/bin/env node
/**
 * Runs before `npm start` and `npm test` (npm's pre-scripts), with no dependency of its own, so both
 * commands work from a fresh clone: installs node_modules when missing or stale, and checks that Jupyter
 * is there, saying in one sentence how to get it when it is not.
 *
 * Usage: node scripts/preflight.js [--needs-jupyter=server|headless]
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const installed = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');

function fail(sentence) {
  process.stderr.write(`\n${sentence}\n\n`);
  process.exit(1);
}

if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.log('preflight: installing dependencies with `npm ci` (node_modules is missing or older than package-lock.json)');
  const r = spawnSync('npm', ['ci'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail('preflight: `npm ci` failed; see the output above.');
}

const need = (process.argv.find((a) => a.startsWith('--needs-jupyter=')) || '').split('=')[1];
if (need) {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const modules = need === 'server' ? 'jupyter_client, notebook' : 'jupyter_client, nbclient, nbconvert';
  const probe = spawnSync(python, ['-c', `import ${modules}`], { encoding: 'utf8' });
  if (probe.status !== 0) {
    fail(
      `Jupyter was not found (${python} cannot import ${modules}): install it with ` +
        '`sudo apt-get install jupyter-notebook jupyter-client python3-nbclient python3-nbconvert` on Debian/Ubuntu, ' +
        'or `pip install notebook nbclient nbconvert`, then run this command again.',
    );
  }
}
