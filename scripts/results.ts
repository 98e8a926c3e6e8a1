/**
 * `npm run results -- [--size full|ci] [--out DIR] [--runs DIR] [--only 02,04] [--workers N]`: the research
 * notebooks' answers (issue #12). Executes the five research notebooks (02, 04, 05, 06, 07) headless in the lab's
 * kernel, as test/notebooks/notebooks.test.ts does (scripts/run-notebooks.py: nbclient and nbconvert), at
 * TRANSFUSION_SIZE `--size` (default full: hours of CPU), and publishes them:
 *
 * - DIR/<notebook>.html, each executed notebook exported to HTML (`--out DIR`; default docs/results/ at full size,
 *   out/results-ci/ at ci size, so a smoke run never replaces the published pages), offline and small:
 *   the copy of plotly.js the kernel stores with a notebook's first figure is taken out of every page
 *   (`externalisePlotly`, src/viz/figure.ts) and DIR/plotly.min.js, written once, is loaded instead; the script
 *   tags nbconvert points at this machine's files (Debian's require.js and MathJax, which no page here uses) go,
 *   the export template's theme (half a megabyte of CSS, the same in every page) is one stylesheet the pages share
 *   (`externaliseTheme`),
 *   and the paths the notebooks print are made relative to their folder and the lab's root (`relativePaths`);
 * - DIR/index.html, linking the pages, with each notebook's status, wall time and kernel CPU time summed over the
 *   calls that published it, its runs and their recorded CPU time (`runsCost`), and the day it last ran;
 * - DIR/results.json, the same numbers. Notebooks an earlier call published there (same size and recipe) stay
 *   listed, so the notebooks can be run one per call (`--only 04`, then `--only 07`).
 *
 * It prints each notebook's wall time and the CPU time of its kernel process (user + system, what this call cost,
 * measured by run-notebooks.py once the kernel exited), and what the notebook's runs cost over every call that
 * trained them (`runsCost`: the CPU time each run recorded in its run.json), since a resumed call skips the arms
 * earlier calls finished. The notebooks run in `--runs` (default notebooks/,
 * where Jupyter runs them too), so their runs go under <runs>/runs/ and a second call resumes: the lab's `sweep`
 * and `trainRun` read finished arms back instead of training them again. The kernelspec goes into a temporary
 * Jupyter data folder, so the user's `transfusion` kernel is never repointed at this build.
 *
 * `--workers N` runs every notebook in N kernels at once, the cores split between them (`workerEnv`): the second
 * kernel's sweeps join the first's and share their arms (src/experiments/sweep.ts), so each arm still trains once.
 * The first kernel's executed notebook is the one published; the kernels' CPU is summed (`combineWorkers`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { ConfigError } from '../src/config';
import { findLabRoot } from '../src/engine/root';
import { runDirs } from '../src/experiments/load-run';
import { RESEARCH_RECIPE } from '../src/experiments/research';
import { readRecord, type RunRecord } from '../src/experiments/run-record';
import { externalisePlotly, plotlyJs } from '../src/viz/figure';
import { escapeHtml } from '../src/viz/html';
import { KERNEL_NAME, kernelSpec, launcherPath, writeKernelSpec } from '../kernel/kernelspec';

/** The research notebooks, by file name without `.ipynb`; `--only` names them by their number. */
export const RESEARCH_NOTEBOOKS = ['02-loss-coefficient', '04-attention-masks', '05-patches-and-encoders', '06-noise-schedules', '07-continuous-vs-discrete'] as const;
export const RESULT_SIZES = ['full', 'ci'] as const;
/** The shared copy of plotly.js every page loads. */
export const PLOTLY_FILE = 'plotly.min.js';
const PYTHON = '/usr/bin/python3';

export interface ResultsArgs {
  readonly size: (typeof RESULT_SIZES)[number];
  /** Where the pages go. */
  readonly out: string;
  /** The folder the notebooks run in: their runs go under <runs>/runs/. */
  readonly runs: string;
  /** Notebooks to run, file names without `.ipynb`. */
  readonly notebooks: readonly string[];
  /** Kernels running each notebook at once, sharing its sweeps' arms (default 1). */
  readonly workers: number;
}

const FLAGS = ['--size', '--out', '--runs', '--only', '--workers'];
const quoted = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/** The command line, checked: a bad flag or value is a ConfigError naming the flag, the value and what is allowed. */
export function parseResultsArgs(argv: readonly string[], root: string = findLabRoot()): ResultsArgs {
  let size: ResultsArgs['size'] = 'full';
  let out: string | null = null;
  let runs = join(root, 'notebooks');
  let notebooks: string[] = [...RESEARCH_NOTEBOOKS];
  let workers = 1;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!FLAGS.includes(flag)) throw new ConfigError('argument', flag, `one of ${quoted(FLAGS)}, each followed by its value`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new ConfigError(flag, value, 'a value after the flag');
    if (flag === '--size') {
      if (!(RESULT_SIZES as readonly string[]).includes(value)) throw new ConfigError('--size', value, quoted(RESULT_SIZES));
      size = value as ResultsArgs['size'];
    } else if (flag === '--out') {
      out = resolve(value);
    } else if (flag === '--runs') {
      runs = resolve(value);
    } else if (flag === '--workers') {
      workers = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(workers) || workers < 1) throw new ConfigError('--workers', value, 'an integer >= 1 (kernels per notebook, sharing its arms)');
    } else {
      const numbers = RESEARCH_NOTEBOOKS.map((n) => n.slice(0, 2));
      notebooks = value.split(',').map((v) => {
        const k = numbers.indexOf(v.trim());
        if (k < 0) throw new ConfigError('--only', v, `a comma-separated list of ${quoted(numbers)}`);
        return RESEARCH_NOTEBOOKS[k];
      });
    }
  }
  // A smoke run's pages never replace the published ones unless asked to (--out docs/results).
  return { size, out: out ?? join(root, ...(size === 'full' ? ['docs', 'results'] : ['out', 'results-ci'])), runs, notebooks: [...new Set(notebooks)], workers };
}

/** What run-notebooks.py --json writes per notebook. */
export interface NotebookTiming {
  readonly notebook: string;
  readonly ok: boolean;
  readonly wall_s: number;
  /** CPU time (user + system) of the notebook's kernel process. */
  readonly cpu_s: number;
}

/** Script tags nbconvert's template points at files of this machine (file:///usr/share/javascript/...). */
const LOCAL_SCRIPT = /<script[^>]*\ssrc="file:\/\/[^"]*"[^>]*>\s*<\/script>\n?/gi;

/**
 * `text` with this machine's folders written relative: every absolute path under one of `folders` loses that
 * folder and its '/', so with the notebooks run in /home/me/lab/notebooks, '/home/me/lab/notebooks/runs/nb04'
 * reads 'runs/nb04'. A folder matches only as a whole path (not inside '/x/home/me/lab/...'), the longest first,
 * so a run folder inside the lab root keeps its shorter relative form.
 */
export function relativePaths(text: string, folders: readonly string[]): string {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [...folders].sort((a, b) => b.length - a.length).reduce(
    (out, folder) => out.replace(new RegExp(`(?<![\\w./-])${escape(folder.replace(/\/+$/, ''))}/`, 'g'), ''),
    text,
  );
}

/**
 * An exported notebook as published: plotly.js loaded from `plotlySrc`, no links to this machine's files, and the
 * paths the notebook printed relative to `folders` (`relativePaths`: the notebooks' folder and the lab's root).
 */
export function publishPage(html: string, plotlySrc: string = PLOTLY_FILE, folders: readonly string[] = []): { html: string; removed: number } {
  return externalisePlotly(relativePaths(html.replace(LOCAL_SCRIPT, ''), folders), plotlySrc);
}

/** Style blocks at least this long are the export template's theme, the same in every page (half a megabyte). */
const THEME_STYLE_CHARS = 4096;

/**
 * A page with its export template's theme moved to a stylesheet the folder's pages share: every <style> block of
 * at least THEME_STYLE_CHARS characters (nbconvert's JupyterLab theme, about 550 kB, identical in every page an
 * nbconvert writes) leaves the page, and one <link> to `file` takes the first one's place. The file is named by
 * a hash of its text (`notebook-<hash>.css`), so pages exported by another nbconvert, with another theme, never
 * load the wrong one. Short style blocks (an output's own) stay in the page. `css` is null when there was no theme.
 */
export function externaliseTheme(html: string): { html: string; css: string | null; file: string | null } {
  const blocks: string[] = [];
  let linked = false;
  const themed = html.replace(/<style[^>]*>([\s\S]*?)<\/style>\n?/gi, (whole, body: string) => {
    if (body.length < THEME_STYLE_CHARS) return whole;
    blocks.push(body);
    return '\u0000';
  });
  if (blocks.length === 0) return { html, css: null, file: null };
  const css = blocks.join('\n');
  const file = `notebook-${createHash('sha256').update(css).digest('hex').slice(0, 12)}.css`;
  const out = themed.replace(/\u0000/g, () => {
    if (linked) return '';
    linked = true;
    return `<link rel="stylesheet" href="${file}">\n`;
  });
  return { html: out, css, file };
}

/** Seconds as h:mm:ss. */
export function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** The notebook's title: the first heading of its first markdown cell. */
export function notebookTitle(ipynb: string, fallback: string): string {
  const cells = (JSON.parse(ipynb) as { cells: { cell_type: string; source: string | string[] }[] }).cells;
  const markdown = cells.find((c) => c.cell_type === 'markdown');
  const text = markdown ? (Array.isArray(markdown.source) ? markdown.source.join('') : markdown.source) : '';
  return /^#\s+(.+)$/m.exec(text)?.[1].trim() ?? fallback;
}

/**
 * What a notebook's runs cost, over every call that trained them (a sweep of hours is usually trained over several
 * calls, each resuming the last): read from their run.json records (src/experiments/run-record.ts).
 */
export interface RunsCost {
  /** Run folders found, and how many of them finished. */
  readonly runs: number;
  readonly finished: number;
  /** Summed `cpuSeconds` of the runs that recorded it (`cpu_runs` of them). */
  readonly cpu_s: number;
  readonly cpu_runs: number;
  /** Summed wall `seconds` of the finished runs (since each one's last resume). */
  readonly wall_s: number;
}

/**
 * The cost of notebook `notebook`'s runs at `size` under `runsRoot` (<runs>/runs): the research notebooks name
 * their run folders `nbNN-<what>-<size>` or `nbNN-<size>` (a sweep's or a notebook's folder of runs), whose runs
 * `runDirs` lists and `readRecord` reads (src/experiments). A run whose run.json does not read is skipped.
 */
export function runsCost(runsRoot: string, notebook: string, size: string): RunsCost {
  const prefix = `nb${notebook.slice(0, 2)}-`;
  const groups = existsSync(runsRoot) ? readdirSync(runsRoot).filter((d) => d.startsWith(prefix) && d.endsWith(`-${size}`) || d === `${prefix}${size}`) : [];
  let runs = 0, finished = 0, cpu = 0, cpuRuns = 0, wall = 0;
  for (const group of groups.sort()) {
    let dirs: string[];
    try {
      dirs = runDirs(join(runsRoot, group));
    } catch {
      continue; // a file, or a folder holding no runs
    }
    for (const dir of dirs) {
      let record: RunRecord;
      try {
        record = readRecord(dir);
      } catch {
        continue;
      }
      runs += 1;
      if (record.status === 'finished') {
        finished += 1;
        if (record.seconds !== null) wall += record.seconds;
      }
      if (typeof record.cpuSeconds === 'number') {
        cpu += record.cpuSeconds;
        cpuRuns += 1;
      }
    }
  }
  return { runs, finished, cpu_s: cpu, cpu_runs: cpuRuns, wall_s: wall };
}

/** A RunsCost in words: '6 runs (6 finished), training CPU 1:54:00', naming the runs whose CPU was not recorded. */
export function describeCost(c: RunsCost): string {
  const unknown = c.runs - c.cpu_runs;
  if (c.runs > 0 && c.cpu_runs === 0) return `${c.runs} runs (${c.finished} finished), training CPU not recorded (runs from before run.json kept it; their wall time is in \`seconds\`)`;
  return `${c.runs} runs (${c.finished} finished), training CPU ${clock(c.cpu_s)}${unknown > 0 ? ` (${unknown} run${unknown === 1 ? '' : 's'} without a CPU record; their wall time is in \`seconds\`)` : ''}`;
}

export interface IndexEntry extends NotebookTiming {
  readonly title: string;
  readonly page: string;
  /** The day this notebook's page was made (YYYY-MM-DD). */
  readonly date: string;
  /** What its runs cost over every call (absent in entries written before it was kept). */
  readonly cost?: RunsCost;
  /**
   * Every call that published this page at this size and recipe, oldest first, this one last (absent in entries
   * written before it was kept: such an entry is its own one call).
   */
  readonly calls?: readonly CallTiming[];
  /** Kernels that ran it in the latest call (`--workers`; absent: 1). */
  readonly workers?: number;
}

/** One call's share of a notebook: the day, the wall time and the kernels' CPU time. */
export interface CallTiming {
  readonly date: string;
  readonly wall_s: number;
  readonly cpu_s: number;
  /** Kernels that ran the notebook at once (`--workers`; absent: 1), their CPU summed in `cpu_s`. */
  readonly workers?: number;
}

/** The calls an entry stands for: its `calls`, or, in an entry from before they were kept, itself. */
export function callsOf(e: IndexEntry): readonly CallTiming[] {
  return e.calls ?? [{ date: e.date, wall_s: e.wall_s, cpu_s: e.cpu_s }];
}

/** What DIR/results.json holds: the call's settings and one entry per published notebook. */
export interface ResultsRecord {
  readonly size: string;
  readonly recipe: string;
  readonly date: string;
  readonly cores: number;
  readonly notebooks: readonly IndexEntry[];
}

/**
 * The index after a call that ran `fresh`: its entries, and the entries of earlier calls (`previous`, the
 * folder's results.json) for the notebooks it did not run, so `--only 04` and a later `--only 07` publish both.
 * Earlier entries are kept only when they ran at the same size and recipe and their page is still there
 * (`pageExists`); the others are named in `dropped`. Entries come in RESEARCH_NOTEBOOKS' order.
 */
export function mergeEntries(
  previous: unknown,
  meta: { size: string; recipe: string },
  fresh: readonly IndexEntry[],
  pageExists: (page: string) => boolean,
): { entries: IndexEntry[]; dropped: string[] } {
  const ran = new Set(fresh.map((e) => e.notebook));
  const kept: IndexEntry[] = [];
  const dropped: string[] = [];
  const record = (previous ?? {}) as Partial<ResultsRecord>;
  const sameRun = record.size === meta.size && record.recipe === meta.recipe;
  const earlier = new Map<string, IndexEntry>();
  for (const e of Array.isArray(record.notebooks) ? record.notebooks : []) {
    const complete = typeof e.title === 'string' && typeof e.page === 'string' && typeof e.date === 'string';
    if (ran.has(e.notebook)) {
      if (complete && sameRun) earlier.set(e.notebook, e);
      continue;
    }
    if (complete && sameRun && pageExists(e.page)) kept.push(e);
    else dropped.push(String(e.notebook));
  }
  // A notebook run again keeps the calls that published it before: its hours are usually spread over several.
  const now = fresh.map((e) => {
    const before = earlier.get(e.notebook);
    const call: CallTiming = { date: e.date, wall_s: e.wall_s, cpu_s: e.cpu_s, ...(e.workers !== undefined && e.workers > 1 ? { workers: e.workers } : {}) };
    return { ...e, calls: [...(before ? callsOf(before) : []), call] };
  });
  const order = (e: IndexEntry) => {
    const k = (RESEARCH_NOTEBOOKS as readonly string[]).indexOf(e.notebook.replace(/\.ipynb$/, ''));
    return k < 0 ? RESEARCH_NOTEBOOKS.length : k;
  };
  return { entries: [...kept, ...now].sort((a, b) => order(a) - order(b)), dropped };
}

/** DIR/index.html: one row per notebook, linked, with its status, wall time, kernel CPU time and the day it ran. */
export function indexPage(entries: readonly IndexEntry[], meta: { size: string; recipe: string; date: string; cores: number }): string {
  /** The runs and training CPU cells (empty for an entry from before costs were kept). */
  const costCells = (c: RunsCost | undefined) => c === undefined ? '<td></td><td></td>'
    : `<td>${c.runs}</td><td>${c.cpu_runs === 0 ? 'not recorded' : `${clock(c.cpu_s)}${c.cpu_runs < c.runs ? ` (${c.cpu_runs} of ${c.runs} runs recorded)` : ''}`}</td>`;
  const total = (e: IndexEntry, key: 'wall_s' | 'cpu_s') => clock(callsOf(e).reduce((sum, c) => sum + c[key], 0));
  const rows = entries.map((e) => `<tr><td><a href="${escapeHtml(e.page)}">${escapeHtml(e.title)}</a></td><td>${e.ok ? 'ok' : 'FAILED'}</td>` +
    `<td>${callsOf(e).length}</td><td>${total(e, 'wall_s')}</td><td>${total(e, 'cpu_s')}</td>${costCells(e.cost)}<td>${escapeHtml(e.date)}</td></tr>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Transfusion Lab: research results</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}</style>
</head><body>
<h1>Transfusion Lab: research results</h1>
<p>The research notebooks executed headless by <code>npm run results</code> (scripts/results.ts) at size <b>${escapeHtml(meta.size)}</b>,
every arm starting from the <code>${escapeHtml(meta.recipe)}</code> recipe, on ${meta.cores} cores; last updated ${escapeHtml(meta.date)}.
Each page answers its notebook's question with numbers computed from its runs; the verdicts are src/experiments/ablation.ts's.
Wall and kernel CPU (user + system time of the notebook's kernel processes, more than one with <code>--workers</code>) are summed over the calls of <code>npm run results</code>
that published the page (a call resumes where the last stopped, reading finished arms back); runs and training CPU count
every run of the notebook, from their run.json records, including calls that stopped before publishing.</p>
<table><thead><tr><th>notebook</th><th>status</th><th>calls</th><th>wall</th><th>kernel CPU</th><th>runs</th><th>training CPU</th><th>last ran</th></tr></thead><tbody>
${rows}
</tbody></table>
</body></html>
`;
}

/**
 * The environment the notebooks run in: the size, this call's Jupyter data folder (and no other kernel path), and
 * at full size no limit per cell unless TRANSFUSION_CELL_TIMEOUT says otherwise, since one sweep cell trains for
 * hours there (run-notebooks.py's default limit, 20 minutes, is a ci run's).
 */
export function notebookEnv(size: ResultsArgs['size'], jupyterData: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, JUPYTER_DATA_DIR: jupyterData, TRANSFUSION_SIZE: size };
  delete env.JUPYTER_PATH;
  if (size === 'full' && env.TRANSFUSION_CELL_TIMEOUT === undefined) env.TRANSFUSION_CELL_TIMEOUT = '0';
  return env;
}

/**
 * The environment of each kernel when `workers` kernels run a notebook at once: the machine's cores split between
 * them (TRANSFUSION_THREADS, at least 1 each) unless TRANSFUSION_THREADS is set already. On a 2-core machine two
 * kernels at one thread each trained 6-13% more steps per second than one kernel at two (README, "Research
 * results"), since the native kernels of this model's small matrices do not use a second thread fully.
 */
export function workerEnv(env: NodeJS.ProcessEnv, workers: number, cores: number = cpus().length): NodeJS.ProcessEnv {
  if (workers <= 1 || env.TRANSFUSION_THREADS !== undefined) return env;
  return { ...env, TRANSFUSION_THREADS: String(Math.max(1, Math.floor(cores / workers))) };
}

/**
 * One timing per notebook from the workers' lists (each worker ran every notebook; a worker that failed to start
 * has an empty list; worker 0's list sets the order): ok only when every worker's kernel finished it, the longest
 * wall time, and the kernels' CPU summed, since together they are what the notebook cost. A notebook a worker
 * never reached counts as failed.
 */
export function combineWorkers(perWorker: readonly (readonly NotebookTiming[])[]): NotebookTiming[] {
  const [first = [], ...rest] = perWorker;
  return first.map((t) => {
    const same = rest.map((list) => list.find((o) => o.notebook === t.notebook));
    const all = [t, ...same.filter((o): o is NotebookTiming => o !== undefined)];
    return {
      notebook: t.notebook,
      ok: all.length === perWorker.length && all.every((o) => o.ok),
      wall_s: Math.max(...all.map((o) => o.wall_s)),
      cpu_s: all.reduce((sum, o) => sum + o.cpu_s, 0),
    };
  });
}

function runPython(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(PYTHON, args, { env, stdio: 'inherit' });
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const root = findLabRoot();
  let args: ResultsArgs;
  try {
    args = parseResultsArgs(argv, root);
  } catch (e) {
    process.stderr.write(`results: ${(e as Error).message}\n`);
    return 1;
  }
  const launcher = launcherPath(root);
  if (!existsSync(launcher)) {
    process.stderr.write(`results: the kernel launcher ${launcher} does not exist: run \`npm run build\` first\n`);
    return 1;
  }
  const work = mkdtempSync(join(tmpdir(), 'transfusion-results-'));
  try {
    // The kernelspec of this build, in a Jupyter data folder of the call's own (as test/notebooks/notebooks.test.ts).
    writeKernelSpec(join(work, 'jupyter', 'kernels', KERNEL_NAME), kernelSpec(launcher));
    const env = workerEnv(notebookEnv(args.size, join(work, 'jupyter')), args.workers);
    const executed = join(work, 'executed');
    console.log(`results: ${args.notebooks.length} notebooks at size ${args.size}, recipe ${RESEARCH_RECIPE}, runs under ${join(args.runs, 'runs')}, pages to ${args.out}` +
      (args.workers > 1 ? `, ${args.workers} kernels per notebook (TRANSFUSION_THREADS=${env.TRANSFUSION_THREADS ?? 'all cores'} each)` : ''));
    // Worker 0's executed notebooks are the ones published; the others' (executed-1, ...) only share the arms.
    const outputs = Array.from({ length: args.workers }, (_, k) => (k === 0 ? executed : `${executed}-${k}`));
    const statuses = await Promise.all(outputs.map((out) => runPython([
      join(root, 'scripts', 'run-notebooks.py'), '--out', out, '--cwd', args.runs, '--json', `${out}.json`,
      ...args.notebooks.map((n) => join(root, 'notebooks', `${n}.ipynb`)),
    ], env)));
    const status = statuses.every((c) => c === 0) ? 0 : 1;
    if (!existsSync(`${executed}.json`)) {
      process.stderr.write(`results: scripts/run-notebooks.py exited ${statuses[0]} before it ran a notebook\n`);
      return 1;
    }
    const timings = combineWorkers(outputs.map((out) => (existsSync(`${out}.json`) ? JSON.parse(readFileSync(`${out}.json`, 'utf8')) as NotebookTiming[] : [])));
    mkdirSync(args.out, { recursive: true });
    const plotly = join(args.out, PLOTLY_FILE);
    if (!existsSync(plotly) || readFileSync(plotly, 'utf8') !== plotlyJs()) writeFileSync(plotly, plotlyJs());
    const meta = { size: args.size, recipe: RESEARCH_RECIPE, date: new Date().toISOString().slice(0, 10), cores: cpus().length };
    const fresh = timings.map((t) => {
      const name = basename(t.notebook, '.ipynb');
      const page = externaliseTheme(publishPage(readFileSync(join(executed, `${name}.html`), 'utf8'), PLOTLY_FILE, [args.runs, root]).html);
      if (page.file !== null && !existsSync(join(args.out, page.file))) writeFileSync(join(args.out, page.file), page.css!);
      writeFileSync(join(args.out, `${name}.html`), page.html);
      const cost = runsCost(join(args.runs, 'runs'), name, args.size);
      return { ...t, title: notebookTitle(readFileSync(join(executed, t.notebook), 'utf8'), name), page: `${name}.html`, date: meta.date, cost, ...(args.workers > 1 ? { workers: args.workers } : {}) };
    });
    // Notebooks published by earlier calls stay in the index (one notebook of hours per call is the usual way).
    const recordFile = join(args.out, 'results.json');
    const previous: unknown = existsSync(recordFile) ? JSON.parse(readFileSync(recordFile, 'utf8')) : null;
    const { entries, dropped } = mergeEntries(previous, meta, fresh, (page) => existsSync(join(args.out, page)));
    if (dropped.length > 0) console.log(`results: left out of the index, run at another size or recipe or without a page: ${dropped.join(', ')}`);
    writeFileSync(join(args.out, 'index.html'), indexPage(entries, meta));
    const record: ResultsRecord = { ...meta, notebooks: entries };
    writeFileSync(recordFile, `${JSON.stringify(record, null, 1)}\n`);
    console.log(`\n${'notebook'.padEnd(28)}${'status'.padEnd(8)}${'wall'.padStart(9)}${'kernel CPU'.padStart(12)}  its runs, over every call`);
    for (const e of fresh) console.log(`${e.notebook.replace(/\.ipynb$/, '').padEnd(28)}${(e.ok ? 'ok' : 'FAILED').padEnd(8)}${clock(e.wall_s).padStart(9)}${clock(e.cpu_s).padStart(12)}  ${describeCost(e.cost)}`);
    const index = join(args.out, 'index.html');
    console.log(`\n${relative(process.cwd(), index).startsWith('..') ? index : relative(process.cwd(), index)}: ${entries.length} pages sharing ${PLOTLY_FILE}`);
    return status === 0 && fresh.every((e) => e.ok) ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`results: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
