/**
 * A run or a sweep as one self-contained HTML page that opens offline in any browser: plotly.js is inlined
 * once, sample grids are data: URIs, tables are plain HTML. Nothing is fetched from the network, so the page
 * can be mailed, attached to an issue or archived beside the zip of the run.
 *
 * Every string from the run folder (names, statuses, metric names and values, config values, file names) is
 * escaped where it enters the markup: a folder someone sent may hold `<script>` in a metric name.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import type * as aq from 'arquero';
import { escapeHtml } from '../viz/html';
import type { Figure, PlotlyEmbedding } from '../viz/figure';
import { lossCurves } from '../viz/loss-curves';
import { writeRunFile } from './atomic';
import { compareRuns, comparisonPlots, loggedLossKeys } from './compare';
import { loadRun, runDirs, type LoadedRun } from './load-run';
import { RUN_FILES, rowsTable } from './run-record';
import { readSweepManifest } from './sweep';

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 12px; }
.status-finished { color: #2ca02c; } .status-failed, .status-died { color: #d62728; } .status-interrupted, .status-running { color: #ff7f0e; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; } figcaption { font-size: 13px; text-align: center; }
img { image-rendering: pixelated; }
`;

/** Figures in page order: the first carries plotly.js, the others use it. */
class Figures {
  private embedded = false;
  html(figure: Figure | null): string {
    if (!figure) return '';
    const embedding: PlotlyEmbedding = this.embedded ? 'none' : 'inline';
    this.embedded = true;
    return figure.toHtml(embedding);
  }
}

function page(title: string, body: string[]): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    `<style>${STYLE}</style></head><body>\n${body.join('\n')}\n</body></html>\n`;
}

function keyValues(rows: readonly [string, unknown][]): string {
  const cells = rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v === null || v === undefined ? '' : String(v))}</td></tr>`);
  return `<table>${cells.join('')}</table>`;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && !Number.isInteger(value)) return escapeHtml(String(Number(value.toPrecision(6))));
  return escapeHtml(typeof value === 'object' ? JSON.stringify(value) : String(value));
}

/** A table as HTML with its column names and values escaped (arquero's toHTML leaves column names as they are). */
function htmlTable(table: aq.ColumnTable): string {
  const names = table.columnNames();
  const rows = (table.objects() as Record<string, unknown>[]).map((row) => `<tr>${names.map((n) => `<td>${cell(row[n])}</td>`).join('')}</tr>`);
  return `<table><thead><tr>${names.map((n) => `<th>${escapeHtml(n)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function statusSpan(status: string, text: string, tag = 'span'): string {
  return `<${tag} class="status-${escapeHtml(status)}">${escapeHtml(text)}</${tag}>`;
}

function jsonBlock(summary: string, value: unknown): string {
  return `<details><summary>${escapeHtml(summary)}</summary><pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre></details>`;
}

function image(path: string, caption: string): string {
  const uri = `data:image/png;base64,${readFileSync(path).toString('base64')}`;
  return `<figure><img src="${uri}" alt="${escapeHtml(caption)}"><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

function statusLine(run: LoadedRun): string {
  const r = run.record;
  return `<p>status ${statusSpan(r.status, r.status, 'b')}${r.error ? `: ${escapeHtml(r.error)}` : ''}</p>`;
}

function files(dir: string, paths: readonly string[]): string {
  const rows = paths.map((p) => `<tr><td>${escapeHtml(relative(dir, p))}</td><td>${(statSync(p).size / 1024).toFixed(1)} kB</td></tr>`);
  return `<table>${rows.join('')}</table>`;
}

function runPage(run: LoadedRun): string {
  const r = run.record;
  const figures = new Figures();
  // A Chameleon baseline run logs `text` and `image` where Transfusion logs `lm` and `diffusion`.
  const logged = loggedLossKeys([run]);
  const present = [RUN_FILES.record, RUN_FILES.metricsCsv, RUN_FILES.metricsArrow, RUN_FILES.evalJson, RUN_FILES.evalCsv, RUN_FILES.checkpoint]
    .map((f) => join(run.dir, f))
    .filter((p) => existsSync(p));
  return page(`run ${r.name}`, [
    `<h1>Run ${escapeHtml(r.name)}</h1>`,
    statusLine(run),
    keyValues([
      ['model', run.modelKind],
      ['started', r.startedAt], ['ended', r.endedAt], ['seconds', r.seconds?.toFixed(1)], ['steps', r.steps], ['seed', r.seed],
      ...(r.arm ? [['arm', r.arm.label] as [string, unknown]] : []),
      ['engine', r.engine], ['git commit', `${r.git.commit ?? 'not a git checkout'}${r.git.dirty ? ' (uncommitted changes)' : ''}`],
      ['node', `${r.runtime.node} on ${r.runtime.platform}/${r.runtime.arch}, ${r.runtime.cpus} cores`],
      ...r.resumed.map((x) => [`resumed at step ${x.step}`, `${x.at} (${x.engine ?? 'engine unknown'})`] as [string, unknown]),
    ]),
    '<h2>Training</h2>',
    logged.length > 0 ? figures.html(lossCurves(run.history as never, { keys: logged, title: 'Training losses' })) : '<p>No steps were logged.</p>',
    ...(run.evals.length > 0 ? ['<h2>Evaluation</h2>', htmlTable(rowsTable(run.evals))] : []),
    ...(run.samples.length > 0 ? ['<h2>Samples</h2>', ...run.samples.map((p) => image(p, basename(p, '.png')))] : []),
    '<h2>Config</h2>',
    jsonBlock('the full config (run.json `config`): rebuilds this run', r.config),
    jsonBlock('package versions', r.packages),
    '<h2>Files</h2>',
    files(run.dir, [...present, ...run.samples]),
  ]);
}

function collectionPage(dir: string): string {
  const manifest = readSweepManifest(dir);
  const runs = runDirs(dir).map(loadRun);
  const table = compareRuns(runs.map((r) => r.dir));
  const { curves, bars } = comparisonPlots(table);
  const figures = new Figures();
  const shown = table.select(table.columnNames().filter((c) => c !== 'dir'));
  const title = manifest ? `sweep ${manifest.name}` : `runs in ${basename(dir)}`;
  return page(title, [
    `<h1>${escapeHtml(manifest ? `Sweep ${manifest.name}` : `Runs in ${basename(dir)}`)}</h1>`,
    `<p>${runs.length} run${runs.length === 1 ? '' : 's'}: ${runs.map((r) => statusSpan(r.record.status, r.record.name)).join(', ')}</p>`,
    '<h2>Comparison</h2>',
    htmlTable(shown),
    figures.html(curves),
    figures.html(bars),
    ...(runs.some((r) => r.samples.length > 0)
      ? ['<h2>Samples</h2>', ...runs.flatMap((r) => r.samples.map((p) => image(p, `${r.record.name}: ${basename(p, '.png')}`)))]
      : []),
    ...(manifest ? ['<h2>Sweep</h2>', jsonBlock('grid and seeds', { grid: manifest.grid, seeds: manifest.seeds }), jsonBlock('base config', manifest.base)] : []),
  ]);
}

/**
 * Write `<dir>/report.html` for a run folder, or for a sweep (or any folder of runs): comparison table,
 * curves and bars per arm, every sample grid. Returns the path.
 */
export function writeReport(dir: string): string {
  const root = resolve(dir);
  const html = existsSync(join(root, RUN_FILES.record)) ? runPage(loadRun(root)) : collectionPage(root);
  const path = join(root, RUN_FILES.report);
  writeRunFile(path, html);
  return path;
}
