/**
 * `npm run results` (scripts/results.ts): it refuses a bad argument before it runs anything, naming the argument,
 * the value and what is allowed; it publishes pages that share one plotly.js; and, end to end at ci size on one
 * notebook into temporary folders, it executes the notebook in the lab's kernel, exports it, links it from
 * index.html and reports the kernel's CPU time (docs/results/ is never written by the tests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Run } from '../../src/experiments/run-record';
import { Figure } from '../../src/viz/figure';
import { PLOTLY_FILE, RESEARCH_NOTEBOOKS, clock, combineWorkers, describeCost, externaliseTheme, indexPage, runsCost, mergeEntries, notebookEnv, notebookTitle, parseResultsArgs, publishPage, relativePaths, workerEnv, type IndexEntry } from '../../scripts/results';

const ROOT = path.join(__dirname, '..', '..', ...(__filename.endsWith('.js') ? ['..'] : []));

function run(args: string[], timeout = 120_000) {
  const script = __filename.endsWith('.ts')
    ? ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'scripts', 'results.ts')]
    : [path.join(ROOT, 'dist', 'scripts', 'results.js')];
  return spawnSync(process.execPath, [...script, ...args], { encoding: 'utf8', timeout });
}

test('results refuses a bad size, flag, notebook or missing value before running anything', () => {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'results-args-')), 'pages');
  try {
    const cases: [string[], RegExp][] = [
      [['--size', 'medium', '--out', out], /^results: --size: got "medium"; allowed: 'full', 'ci'\n$/],
      [['--sizes', 'ci', '--out', out], /^results: argument: got "--sizes"; allowed: one of '--size', '--out', '--runs', '--only', '--workers', each followed by its value\n$/],
      [['--out', out, '--only', '04,03'], /^results: --only: got "03"; allowed: a comma-separated list of '02', '04', '05', '06', '07'\n$/],
      [['--out', out, '--size'], /^results: --size: got undefined; allowed: a value after the flag\n$/],
      [['--out', out, '--workers', '0'], /^results: --workers: got "0"; allowed: an integer >= 1 \(kernels per notebook, sharing its arms\)\n$/],
      [['--out', out, '--workers', '1.5'], /^results: --workers: got "1\.5"; allowed: an integer >= 1/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '', 'nothing ran');
    }
    assert.equal(existsSync(out), false, 'nothing was written');
  } finally {
    rmSync(path.dirname(out), { recursive: true, force: true });
  }
});

test('parseResultsArgs: full size publishes to docs/results, a ci run elsewhere unless told; --only picks notebooks', () => {
  const root = '/lab';
  assert.deepEqual(parseResultsArgs([], root), { size: 'full', out: '/lab/docs/results', runs: '/lab/notebooks', notebooks: [...RESEARCH_NOTEBOOKS], workers: 1 });
  assert.equal(parseResultsArgs(['--workers', '2'], root).workers, 2);
  assert.equal(parseResultsArgs(['--size', 'ci'], root).out, '/lab/out/results-ci');
  assert.equal(parseResultsArgs(['--size', 'ci', '--out', '/tmp/x'], root).out, '/tmp/x');
  assert.deepEqual(parseResultsArgs(['--only', '07,04,07', '--runs', '/tmp/r'], root), { size: 'full', out: '/lab/docs/results', runs: '/tmp/r', notebooks: ['07-continuous-vs-discrete', '04-attention-masks'], workers: 1 });
});

test('workerEnv splits the cores between the kernels unless TRANSFUSION_THREADS is set; combineWorkers adds their CPU', () => {
  assert.deepEqual(workerEnv({ PATH: '/bin' }, 2, 2), { PATH: '/bin', TRANSFUSION_THREADS: '1' });
  assert.equal(workerEnv({}, 2, 16).TRANSFUSION_THREADS, '8');
  assert.equal(workerEnv({}, 4, 2).TRANSFUSION_THREADS, '1', 'at least one thread each');
  assert.equal(workerEnv({ TRANSFUSION_THREADS: '3' }, 2, 16).TRANSFUSION_THREADS, '3');
  assert.equal(workerEnv({}, 1, 16).TRANSFUSION_THREADS, undefined, 'one kernel keeps the default, every core');
  const a = { notebook: '02-loss-coefficient.ipynb', ok: true, wall_s: 100, cpu_s: 90 };
  const b = { notebook: '05-patches-and-encoders.ipynb', ok: true, wall_s: 50, cpu_s: 40 };
  assert.deepEqual(combineWorkers([[a, b], [{ ...a, wall_s: 120, cpu_s: 80 }, { ...b, ok: false }]]), [
    { notebook: a.notebook, ok: true, wall_s: 120, cpu_s: 170 },
    { notebook: b.notebook, ok: false, wall_s: 50, cpu_s: 80 },
  ]);
  assert.deepEqual(combineWorkers([[a, b], [a]]).map((t) => t.ok), [true, false], 'a notebook a worker never reached failed');
  assert.deepEqual(combineWorkers([[a]]), [a]);
});

test('notebookEnv: the size and a Jupyter folder of its own; at full size no limit per cell unless one is set', () => {
  const base = { PATH: '/bin', JUPYTER_PATH: '/elsewhere', TRANSFUSION_SIZE: 'ci' };
  assert.deepEqual(notebookEnv('full', '/tmp/j', base), { PATH: '/bin', JUPYTER_DATA_DIR: '/tmp/j', TRANSFUSION_SIZE: 'full', TRANSFUSION_CELL_TIMEOUT: '0' });
  assert.deepEqual(notebookEnv('ci', '/tmp/j', base), { PATH: '/bin', JUPYTER_DATA_DIR: '/tmp/j', TRANSFUSION_SIZE: 'ci' });
  assert.equal(notebookEnv('full', '/tmp/j', { TRANSFUSION_CELL_TIMEOUT: '36000' }).TRANSFUSION_CELL_TIMEOUT, '36000');
});

test('publishPage: no stored plotly.js, no links to this machine, the shared file loaded once', () => {
  const exported = '<html><head><title>x</title><script src="file:///usr/share/javascript/requirejs/require.min.js"></script>\n' +
    '<!-- Load mathjax -->\n    <script src="file:///usr/share/javascript/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"> </script>\n</head>' +
    `<body>${new Figure([{ type: 'bar', x: ['a'], y: [1] }]).toHtml('inline')}</body></html>`;
  const { html, removed } = publishPage(exported);
  assert.equal(removed, 1);
  assert.doesNotMatch(html, /file:\/\//);
  assert.equal(html.split(`src="${PLOTLY_FILE}"`).length - 1, 1);
  assert.ok(html.length < 5000, `${html.length} characters`);
});

test('externaliseTheme: the template\'s long style blocks go to one shared, content-named stylesheet; short ones stay', () => {
  const theme = `body { color: black; }\n${'.x { margin: 0; }\n'.repeat(400)}`;
  const page = `<html><head><style type="text/css">${theme}</style>\n<style>${theme.replace('black', 'red')}</style>\n<style>.own { top: 0 }</style></head><body>hi</body></html>`;
  const out = externaliseTheme(page);
  assert.match(out.file!, /^notebook-[0-9a-f]{12}\.css$/);
  assert.equal(out.css, `${theme}\n${theme.replace('black', 'red')}`);
  assert.equal(out.html, `<html><head><link rel="stylesheet" href="${out.file}">\n<style>.own { top: 0 }</style></head><body>hi</body></html>`);
  assert.equal(externaliseTheme(page).file, out.file, 'the same theme, the same file');
  assert.notEqual(externaliseTheme(page.replace('margin: 0', 'margin: 1')).file, out.file, 'another theme, another file');
  assert.deepEqual(externaliseTheme('<style>.a{}</style>x'), { html: '<style>.a{}</style>x', css: null, file: null });
});

test('relativePaths and publishPage: the paths a notebook printed name no folder of this machine', () => {
  const printed = '<pre>loaded /home/me/lab/out/classifier-16.safetensors\nsweep: /home/me/lab/notebooks/runs/nb04-full\n' +
    'report /home/me/lab/notebooks/runs/nb04-full/report.html; not ours: /home/me/lab2/x, /x/home/me/lab/y, /home/me/lab</pre>';
  const expected = '<pre>loaded out/classifier-16.safetensors\nsweep: runs/nb04-full\n' +
    'report runs/nb04-full/report.html; not ours: /home/me/lab2/x, /x/home/me/lab/y, /home/me/lab</pre>';
  // The runs folder inside the root is taken first, whatever order the folders come in; a trailing '/' is allowed.
  assert.equal(relativePaths(printed, ['/home/me/lab', '/home/me/lab/notebooks/']), expected);
  assert.equal(relativePaths(printed, ['/home/me/lab/notebooks', '/home/me/lab']), expected);
  assert.equal(relativePaths('a /tmp/a.b/c and /tmp/aXb/c', ['/tmp/a.b']), 'a c and /tmp/aXb/c', "a '.' in a folder is not a wildcard");
  assert.equal(relativePaths(printed, []), printed);
  const page = publishPage(`<html><body>${printed}</body></html>`, PLOTLY_FILE, ['/home/me/lab', '/home/me/lab/notebooks']).html;
  assert.ok(page.includes(`<body>${expected}</body>`), page);
});

test('clock, notebookTitle and indexPage', () => {
  assert.equal(clock(0), '0:00:00');
  assert.equal(clock(3725.4), '1:02:05');
  const nb = JSON.stringify({ cells: [{ cell_type: 'code', source: '# not this' }, { cell_type: 'markdown', source: ['# 04 · Attention masks\n', 'text'] }] });
  assert.equal(notebookTitle(nb, 'x'), '04 · Attention masks');
  assert.equal(notebookTitle(JSON.stringify({ cells: [] }), 'fallback'), 'fallback');
  const page = indexPage([{ notebook: '04-attention-masks.ipynb', ok: true, wall_s: 61, cpu_s: 120, title: 'A < B', page: '04-attention-masks.html', date: '2026-12-06' }], { size: 'ci', recipe: 'mnist-reading', date: '2026-12-07', cores: 2 });
  assert.match(page, /<td><a href="04-attention-masks\.html">A &lt; B<\/a><\/td><td>ok<\/td><td>1<\/td><td>0:01:01<\/td><td>0:02:00<\/td><td><\/td><td><\/td><td>2026-12-06<\/td>/);
  const cost = { runs: 6, finished: 6, cpu_s: 7200, cpu_runs: 5, wall_s: 3600 };
  const calls = [{ date: '2026-12-06', wall_s: 3000, cpu_s: 5000 }, { date: '2026-12-07', wall_s: 61, cpu_s: 120 }];
  const withCost = indexPage([{ notebook: '07-x.ipynb', ok: true, wall_s: 61, cpu_s: 120, title: 'T', page: '07-x.html', date: '2026-12-07', cost, calls }], { size: 'full', recipe: 'r', date: '2026-12-07', cores: 2 });
  assert.match(withCost, /<td>ok<\/td><td>2<\/td><td>0:51:01<\/td><td>1:25:20<\/td><td>6<\/td><td>2:00:00 \(5 of 6 runs recorded\)<\/td><td>2026-12-07<\/td>/);
  assert.equal(describeCost(cost), '6 runs (6 finished), training CPU 2:00:00 (1 run without a CPU record; their wall time is in `seconds`)');
  assert.equal(describeCost({ ...cost, cpu_runs: 6 }), '6 runs (6 finished), training CPU 2:00:00');
  assert.match(describeCost({ ...cost, cpu_s: 0, cpu_runs: 0 }), /^6 runs \(6 finished\), training CPU not recorded/);
  assert.match(indexPage([{ notebook: '04-x.ipynb', ok: true, wall_s: 1, cpu_s: 1, title: 'F', page: '04-x.html', date: 'd', cost: { ...cost, cpu_runs: 0 } }], { size: 'full', recipe: 'r', date: 'd', cores: 2 }), /<td>6<\/td><td>not recorded<\/td>/);
  assert.match(page, /at size <b>ci<\/b>,\nevery arm starting from the <code>mnist-reading<\/code> recipe/);
});

test('runsCost sums the CPU and wall time the runs of one notebook recorded, at one size, over every call', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'runs-cost-'));
  try {
    // Records as Run writes them, with the fields under test set (or, for a record from before cpuSeconds, removed).
    const template = mkdtempSync(path.join(tmpdir(), 'runs-cost-template-'));
    const started = await Run.start({ name: 'r', root: template, config: {}, seed: 0 });
    await started.finish();
    const real = JSON.parse(readFileSync(path.join(template, 'r', 'run.json'), 'utf8'));
    rmSync(template, { recursive: true, force: true });
    const put = (group: string, name: string, record: Record<string, unknown> | string) => {
      mkdirSync(path.join(root, group, name), { recursive: true });
      const full = typeof record === 'string' ? record : JSON.stringify(Object.fromEntries(Object.entries({ ...real, name, ...record }).filter(([, v]) => v !== undefined)));
      writeFileSync(path.join(root, group, name, 'run.json'), full);
    };
    put('nb02-lambda-full', 'lambda=1,seed=0', { status: 'finished', seconds: 100, cpuSeconds: 190 });
    put('nb02-lambda-full', 'lambda=1,seed=1', { status: 'finished', seconds: 110, cpuSeconds: undefined }); // from before cpuSeconds was kept
    put('nb02-weighting-full', 'weighting=min-snr,seed=0', { status: 'running', seconds: null, cpuSeconds: null });
    put('nb02-weighting-full', 'broken', '{ not json');
    put('nb02-lambda-ci', 'lambda=1,seed=0', { status: 'finished', seconds: 5, cpuSeconds: 9 }); // another size
    put('nb04-masks-full', 'causal,seed=0', { status: 'finished', seconds: 7, cpuSeconds: 13 }); // another notebook
    put('nb07-full', 'transfusion,seed=0', { status: 'finished', seconds: 50, cpuSeconds: 80 });
    assert.deepEqual(runsCost(root, '02-loss-coefficient', 'full'), { runs: 3, finished: 2, cpu_s: 190, cpu_runs: 1, wall_s: 210 });
    assert.deepEqual(runsCost(root, '07-continuous-vs-discrete', 'full'), { runs: 1, finished: 1, cpu_s: 80, cpu_runs: 1, wall_s: 50 });
    assert.deepEqual(runsCost(path.join(root, 'absent'), '05-x', 'full'), { runs: 0, finished: 0, cpu_s: 0, cpu_runs: 0, wall_s: 0 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('mergeEntries keeps the notebooks earlier calls published at the same size and recipe, in notebook order', () => {
  const entry = (n: string, date: string): IndexEntry => ({ notebook: `${n}.ipynb`, ok: true, wall_s: 1, cpu_s: 2, title: n, page: `${n}.html`, date });
  const meta = { size: 'full', recipe: 'mnist-speedrun' };
  const previous = { ...meta, date: '2026-12-06', cores: 2, notebooks: [entry('07-continuous-vs-discrete', 'old'), entry('04-attention-masks', 'old')] };
  const all = () => true;
  // 04 ran again: its new entry replaces the old; 07 stays; the order is the notebooks' own.
  const merged = mergeEntries(previous, meta, [entry('04-attention-masks', 'new'), entry('02-loss-coefficient', 'new')], all);
  assert.deepEqual(merged.entries.map((e) => `${e.notebook} ${e.date}`), ['02-loss-coefficient.ipynb new', '04-attention-masks.ipynb new', '07-continuous-vs-discrete.ipynb old']);
  assert.deepEqual(merged.dropped, []);
  // The entry run again keeps the earlier call (an entry from before calls were kept is its own one call).
  assert.deepEqual(merged.entries[1].calls, [{ date: 'old', wall_s: 1, cpu_s: 2 }, { date: 'new', wall_s: 1, cpu_s: 2 }]);
  assert.deepEqual(merged.entries[0].calls, [{ date: 'new', wall_s: 1, cpu_s: 2 }]);
  const third = mergeEntries({ ...meta, notebooks: merged.entries }, meta, [{ ...entry('04-attention-masks', 'third'), wall_s: 5, cpu_s: 7 }], all);
  assert.deepEqual(third.entries[1].calls!.map((c) => c.date), ['old', 'new', 'third']);
  // Another size or recipe starts the count afresh.
  assert.deepEqual(mergeEntries({ ...previous, recipe: 'mnist' }, meta, [entry('04-attention-masks', 'new')], all).entries[0].calls!.length, 1);
  // Another recipe or size, or a missing page: the old entry is left out and named.
  assert.deepEqual(mergeEntries({ ...previous, recipe: 'mnist' }, meta, [entry('04-attention-masks', 'new')], all).dropped, ['07-continuous-vs-discrete.ipynb']);
  assert.deepEqual(mergeEntries({ ...previous, size: 'ci' }, meta, [], all).entries, []);
  assert.deepEqual(mergeEntries(previous, meta, [], (page) => page !== '07-continuous-vs-discrete.html').dropped, ['07-continuous-vs-discrete.ipynb']);
  // No results.json, or one from before entries had pages: nothing kept, nothing thrown.
  assert.deepEqual(mergeEntries(null, meta, [entry('04-attention-masks', 'new')], all).entries.length, 1);
  assert.deepEqual(mergeEntries({ ...meta, notebooks: [{ notebook: '02-loss-coefficient.ipynb', ok: true, wall_s: 1, cpu_s: 1 }] }, meta, [], all).dropped, ['02-loss-coefficient.ipynb']);
});

const built = existsSync(path.join(ROOT, 'dist', 'kernel', 'launch.js'));

test('results at ci size on one notebook, two kernels sharing its sweep: executed, exported with the shared plotly.js, indexed, CPU time reported',
  { timeout: 15 * 60_000, skip: !built && 'the lab is not built (npm run build): the kernel runs from dist/' }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'results-e2e-'));
    try {
      const out = path.join(dir, 'pages');
      const r = run(['--size', 'ci', '--only', '04', '--out', out, '--runs', path.join(dir, 'work'), '--workers', '2'], 14 * 60_000);
      assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
      assert.match(r.stdout, /2 kernels per notebook \(TRANSFUSION_THREADS=1 each\)/);
      assert.equal(r.stdout.match(/ok 04-attention-masks\.ipynb in [\d.]+s, kernel CPU [\d.]+s/g)?.length, 2, 'both kernels ran the notebook to its end');
      assert.match(r.stdout, /04-attention-masks\s+ok\s+\d:\d\d:\d\d\s+\d:\d\d:\d\d/);
      const files = readdirSync(out).sort();
      const theme = files.find((f) => /^notebook-[0-9a-f]{12}\.css$/.test(f));
      assert.ok(theme, `the shared theme among ${files.join(', ')}`);
      assert.deepEqual(files.filter((f) => f !== theme), ['04-attention-masks.html', 'index.html', PLOTLY_FILE, 'results.json']);
      const page = readFileSync(path.join(out, '04-attention-masks.html'), 'utf8');
      assert.equal(page.split(`<link rel="stylesheet" href="${theme}">`).length - 1, 1, 'the page loads the shared theme once');
      assert.ok(page.length < 600_000, `the page is ${page.length} characters`);
      assert.equal(page.includes('* plotly.js v'), false, 'no copy of plotly.js in the page');
      assert.equal(page.split(`src="${PLOTLY_FILE}"`).length - 1, 1);
      assert.ok(page.split('Plotly.newPlot').length - 1 >= 3, 'the figures are on the page');
      assert.match(page, /not distinguishable at 2 seeds|better|worse/, "the notebook's verdict is on the page");
      assert.ok(readFileSync(path.join(out, PLOTLY_FILE), 'utf8').includes('* plotly.js v'));
      assert.match(readFileSync(path.join(out, 'index.html'), 'utf8'), /<a href="04-attention-masks\.html">04 · Attention masks<\/a><\/td><td>ok<\/td>/);
      const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
      assert.equal(results.size, 'ci');
      assert.equal(results.notebooks[0].ok, true);
      assert.equal(results.notebooks[0].workers, 2);
      assert.ok(results.notebooks[0].cpu_s > 1, `the kernel's CPU time: ${results.notebooks[0].cpu_s} s`);
      // notebook 04 at ci size: 2 arms x 2 seeds, each trained once (by one kernel or the other) and recording its CPU time.
      const cost = results.notebooks[0].cost;
      assert.deepEqual([cost.runs, cost.finished, cost.cpu_runs], [4, 4, 4]);
      assert.ok(cost.cpu_s > 1 && cost.cpu_s <= results.notebooks[0].cpu_s, `runs ${cost.cpu_s} s within the kernel's ${results.notebooks[0].cpu_s} s`);
      assert.match(r.stdout, /4 runs \(4 finished\), training CPU \d:\d\d:\d\d/);
      assert.ok(existsSync(path.join(dir, 'work', 'runs', 'nb04-masks-ci', 'sweep.json')), 'the runs went under --runs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
