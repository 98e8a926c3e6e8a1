/**
 * Executes every notebook headless in the `transfusion` kernel (scripts/run-notebooks.py, nbclient) at the
 * CI size and checks that each one ran and that its promised outputs are present.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const PYTHON = '/usr/bin/python3';

interface Output { output_type: string; data?: Record<string, unknown>; text?: string | string[]; name?: string }
interface Cell { cell_type: string; outputs?: Output[] }

function executed(name: string): Cell[] {
  return JSON.parse(readFileSync(join(ROOT, 'out', name), 'utf8')).cells as Cell[];
}

function mimeTypes(cells: Cell[]): Set<string> {
  const seen = new Set<string>();
  for (const c of cells) for (const o of c.outputs ?? []) for (const k of Object.keys(o.data ?? {})) seen.add(k);
  return seen;
}

test('every notebook executes headless in the transfusion kernel', { timeout: 25 * 60_000 }, () => {
  // The kernelspec of this build goes into a Jupyter data folder of the test's own, so running the tests in a
  // checkout never repoints the user's `transfusion` kernel at it.
  const jupyterHome = mkdtempSync(join(tmpdir(), 'transfusion-nb-jupyter-'));
  const env: NodeJS.ProcessEnv = { ...process.env, JUPYTER_DATA_DIR: join(jupyterHome, 'data'), TRANSFUSION_SIZE: process.env.TRANSFUSION_SIZE ?? 'ci' };
  delete env.JUPYTER_PATH;
  try {
    const install = spawnSync(process.execPath, [join(ROOT, 'dist', 'kernel', 'install.js')], { encoding: 'utf8', env });
    assert.equal(install.status, 0, `kernel install failed: ${install.stderr}${install.stdout}`);
    const notebooks = readdirSync(join(ROOT, 'notebooks')).filter((f) => f.endsWith('.ipynb')).sort();
    assert.ok(notebooks.length > 0, 'no notebooks under notebooks/');
    // The notebooks run in a folder of the test's own too (their runs under it), so each run trains afresh: a run
    // left in notebooks/runs/ by an earlier config is refused by the sweep, and one reused prints no training
    // summary for the Chromium check below.
    const run = spawnSync(PYTHON, [join(ROOT, 'scripts', 'run-notebooks.py'), '--cwd', join(jupyterHome, 'work')], { encoding: 'utf8', env });
    process.stdout.write(run.stdout);
    assert.equal(run.status, 0, `notebook run failed:\n${run.stderr}\n${run.stdout}`);
  } finally {
    rmSync(jupyterHome, { recursive: true, force: true });
  }
});

test('00-engine shows the engine line, a plotly chart, an image and a table', () => {
  const cells = executed('00-engine.ipynb');
  const mimes = mimeTypes(cells);
  for (const m of ['application/vnd.plotly.v1+json', 'image/png', 'text/html']) assert.ok(mimes.has(m), `no ${m} output`);
  const text = JSON.stringify(cells);
  assert.match(text, /engine: \w+ on /, 'the engine line is missing');
  assert.match(text, /<table/, 'the arquero table is missing');
});

test('every research notebook shows a plotly figure and a table; 01 and 03 show images; 03 animates', () => {
  const notebooks = readdirSync(join(ROOT, 'notebooks')).filter((f) => /^0[1-9].*\.ipynb$/.test(f)).sort();
  assert.ok(notebooks.length >= 8, `expected notebooks 01-08, found ${notebooks.join(', ')}`);
  for (const name of notebooks) {
    const cells = executed(name);
    const mimes = mimeTypes(cells);
    assert.ok(mimes.has('application/vnd.plotly.v1+json'), `${name}: no plotly figure`);
    assert.match(JSON.stringify(cells), /<table/, `${name}: no table`);
  }
  for (const name of notebooks.filter((n) => /^0[13]-/.test(n))) assert.ok(mimeTypes(executed(name)).has('image/png'), `${name}: no image`);
  const steps = notebooks.find((n) => n.startsWith('03-'));
  if (steps) assert.ok(mimeTypes(executed(steps)).has('image/gif'), '03: no animation of the diffusion steps');
});

const CHROMIUM = '/usr/bin/chromium';

test('the quickstart export renders in headless Chromium: plots drawn, images decoded, table, training summary', { skip: !existsSync(CHROMIUM) && 'no /usr/bin/chromium (Debian package chromium)' }, () => {
  const html = join(ROOT, 'out', '01-quickstart.html');
  const profile = mkdtempSync(join(tmpdir(), 'nb-chromium-'));
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--virtual-time-budget=10000', '--hide-scrollbars'];
  try {
    const dump = spawnSync(CHROMIUM, [...flags, '--dump-dom', `file://${html}`], { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20 });
    assert.equal(dump.status, 0, dump.stderr);
    const dom = dump.stdout;
    const plots = dom.match(/class="main-svg"/g)?.length ?? 0;
    assert.ok(plots >= 2, `plotly drew ${plots} SVG layers`);
    assert.ok(/<img[^>]+src="data:image\/png;base64,/.test(dom), 'a PNG image is on the page');
    assert.match(dom, /<table/, 'a table is on the page');
    assert.match(dom, /done \d+\/\d+ steps/, "the training progress's final summary stayed in the export");
    const shot = spawnSync(CHROMIUM, [...flags, '--window-size=1100,4000', `--screenshot=${join(ROOT, 'out', '01-quickstart.png')}`, `file://${html}`], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(shot.status, 0, shot.stderr);
    assert.ok(existsSync(join(ROOT, 'out', '01-quickstart.png')), 'the screenshot is kept under out/');
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});
