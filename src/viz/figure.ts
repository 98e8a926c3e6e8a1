/**
 * A Plotly figure as plain data (`{ data, layout }`, the JSON plotly.js and plotly.py share) that shows
 * itself inline in Jupyter and in the notebook's HTML export, with no network.
 *
 * The bundle carries three views of the same figure:
 * - `application/vnd.plotly.v1+json`: for frontends with the Plotly renderer (JupyterLab + jupyterlab-plotly);
 * - `text/html`: a div and a script calling `Plotly.newPlot`, for every other frontend and for nbconvert's HTML
 *   export (which ignores the Plotly MIME type). No CDN and no RequireJS: the page must draw offline, in any
 *   frontend. plotly.js (4.8 MB) is stored INLINE, once per saved notebook: inside the lab's kernel it rides on
 *   the first figure shown since the kernel started, and again on the first figure of each re-run of the cell
 *   that holds it (that re-run replaces the cell's old output, library included; the kernel tracks cells by the
 *   `cellId` frontends send, else by their code). Every other figure's script draws with the page's
 *   `window.Plotly`, waiting for it, so a notebook (or its HTML export) draws as long as the holder's output is in
 *   it, whatever order cells ran in. Outside a kernel the first figure of the process carries it;
 * - `text/plain`: one line, for logs and plain consoles.
 */
import { readFileSync } from 'node:fs';
import { escapeHtml } from './html';
import type { HasMimeBundle, MimeBundle } from './mime';
import { kernelHook, newDisplayId, outputBeingMade } from './display';

/** One plotly.js trace (`{ type: 'scatter', x, y, ... }`), see https://plotly.com/javascript/reference/. */
export type PlotlyTrace = Readonly<Record<string, unknown>>;
/** A plotly.js layout (`{ title: { text }, xaxis: {...}, ... }`); plotly.js 3 wants titles as `{ text }` objects. */
export type PlotlyLayout = Readonly<Record<string, unknown>>;
/** plotly.js's per-plot config (`{ responsive, displaylogo, ... }`). */
export type PlotlyConfig = Readonly<Record<string, unknown>>;

/** Default plot config: resize with the output area; no Plotly logo in a research notebook. */
export const DEFAULT_PLOTLY_CONFIG: PlotlyConfig = { responsive: true, displaylogo: false };

/** Height in px a figure gets when its layout sets none; plotly's 450 crowds a notebook column. */
export const DEFAULT_FIGURE_HEIGHT = 360;

/**
 * How a figure's HTML gets plotly.js:
 * - `'once'` (default): inline once per notebook (see the file comment), reuse `window.Plotly` elsewhere;
 * - `'inline'`: always inline (a standalone page, a report file);
 * - `'none'`: never (the page loads plotly.js itself).
 */
export type PlotlyEmbedding = 'once' | 'inline' | 'none';

export class Figure implements HasMimeBundle {
  constructor(
    readonly data: readonly PlotlyTrace[],
    readonly layout: PlotlyLayout = {},
    readonly config: PlotlyConfig = DEFAULT_PLOTLY_CONFIG,
  ) {}

  /** A copy with `patch` merged over the top level of the layout (`fig.withLayout({ height: 500 })`). */
  withLayout(patch: PlotlyLayout): Figure {
    return new Figure(this.data, { ...this.layout, ...patch }, this.config);
  }

  /**
   * The plotly JSON; typed arrays become plain arrays, non-finite numbers null (plotly draws gaps), and numbers
   * other than integers keep FIGURE_DIGITS significant digits.
   */
  toJSON(): { data: unknown; layout: unknown } {
    const text = JSON.stringify({ data: this.data, layout: this.layout }, plainArrays);
    return JSON.parse(text) as { data: unknown; layout: unknown };
  }

  /** A div plus the script that draws into it; see `PlotlyEmbedding` for where plotly.js comes from. */
  toHtml(embedding: PlotlyEmbedding = 'once'): string {
    return this.html(this.toJSON(), embedding);
  }

  /** toHtml over an already serialised `toJSON()`, so a mime bundle serialises (and rounds) the data once. */
  private html(json: { data: unknown; layout: unknown }, embedding: PlotlyEmbedding): string {
    const id = newDisplayId('tfplot');
    const height = typeof this.layout.height === 'number' ? this.layout.height : DEFAULT_FIGURE_HEIGHT;
    const figure = { ...json, config: this.config };
    const library = embedLibrary(embedding) ? plotlyScript() : '';
    return [
      library,
      `<div id="${id}" class="transfusion-plot" style="width:100%;height:${height}px;"></div>`,
      `<script type="text/javascript">${drawScript(id, figure, height)}</script>`,
    ].join('\n');
  }

  /** One line naming the title and the traces, e.g. `Figure "loss": 4 traces (scatter x4)`. */
  describe(): string {
    const counts = new Map<string, number>();
    for (const trace of this.data) {
      const type = typeof trace.type === 'string' ? trace.type : 'scatter';
      counts.set(type, (counts.get(type) ?? 0) + 1);
    }
    const kinds = [...counts].map(([type, n]) => `${type} x${n}`).join(', ');
    const title = titleText(this.layout.title);
    const n = this.data.length;
    return `Figure${title ? ` ${JSON.stringify(title)}` : ''}: ${n} trace${n === 1 ? '' : 's'}${kinds ? ` (${kinds})` : ''}`;
  }

  toMimeBundle(): MimeBundle {
    const json = this.toJSON();
    return {
      data: {
        'application/vnd.plotly.v1+json': json,
        'text/html': this.html(json, 'once'),
        'text/plain': this.describe(),
      },
    };
  }
}

/**
 * Significant digits a figure's numbers keep: float32's precision, so nothing drawn from a tensor loses a digit,
 * while a float64 such as 0.07123456789012345 (a smoothed loss) is written 0.07123457, about half the characters:
 * a published page's curves are mostly such numbers.
 */
export const FIGURE_DIGITS = 7;

/**
 * JSON.stringify's replacer for figures: a Float32Array (written as an object keyed by index) becomes an array,
 * which plotly needs, and a number that is not an integer keeps FIGURE_DIGITS significant digits.
 */
function plainArrays(_key: string, value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) && !Number.isInteger(value) ? Number(value.toPrecision(FIGURE_DIGITS)) : value;
  return ArrayBuffer.isView(value) && !(value instanceof DataView) ? Array.from(value as unknown as ArrayLike<number>) : value;
}

function titleText(title: unknown): string | undefined {
  if (typeof title === 'string') return title;
  if (typeof title === 'object' && title !== null && typeof (title as { text?: unknown }).text === 'string') {
    return (title as { text: string }).text;
  }
  return undefined;
}

const LIBRARY = 'plotly.js';

/** Whether this process emitted the library since the last reset; outside a kernel, that alone decides. */
let embeddedHere = false;
/** Set by resetPlotlyEmbedding(): the next figure carries the library whatever the kernel's record says. */
let forceNext = false;

/** Display ids whose output carries the library: updating one must keep it (a plot redrawn as training runs). */
const carrierDisplays = new Set<string>();

function embedLibrary(embedding: PlotlyEmbedding): boolean {
  if (embedding === 'inline') return true;
  if (embedding === 'none') return false;
  const target = outputBeingMade();
  if (target?.update && !forceNext) return carrierDisplays.has(target.displayId);
  const force = forceNext;
  forceNext = false;
  const hook = kernelHook();
  const carry = hook?.carry ? hook.carry(LIBRARY, force) : !embeddedHere;
  embeddedHere ||= carry;
  if (carry && target) carrierDisplays.add(target.displayId);
  return carry;
}

/**
 * Make the next figure carry plotly.js again. Needed only after "Clear All Outputs" or deleting the cell that
 * held it: the live page still has `window.Plotly`, but the saved notebook (and its HTML export) would lack it.
 */
export function resetPlotlyEmbedding(): void {
  forceNext = true;
  embeddedHere = false;
}

/** True once this process has emitted a figure carrying plotly.js (since the last reset). */
export function plotlyIsEmbedded(): boolean {
  return embeddedHere;
}

let plotlySource: string | undefined;

/** The installed plotly.js bundle (plotly.js-dist-min), read once. */
export function plotlyJs(): string {
  plotlySource ??= readFileSync(require.resolve('plotly.js-dist-min'), 'utf8');
  return plotlySource;
}

/** The first and last lines of plotlyScript's tag: what externalisePlotly finds a stored copy by. */
const PLOTLY_CONFIG = "window.PlotlyConfig = { MathJaxConfig: 'local' };";
const PLOTLY_OPEN = ['<script type="text/javascript">', PLOTLY_CONFIG, 'if (!window.Plotly) { (function (module, exports) {'].join('\n');
const PLOTLY_CLOSE = ['}).call(window, undefined, undefined); }', '</script>'].join('\n');

/**
 * plotly.js in a script tag, guarded so that a page which already has it (the same notebook page after a
 * kernel restart, or two embedded copies) does not parse 4.8 MB again. `module`/`exports` are shadowed so
 * the bundle's UMD header sets `window.Plotly` even where a frontend defines CommonJS-like globals.
 * `PlotlyConfig.MathJaxConfig = 'local'` keeps plotly from reconfiguring the notebook's own MathJax.
 */
export function plotlyScript(): string {
  const body = plotlyJs().replace(/<\/script/gi, '<\\/script');
  return [PLOTLY_OPEN, body, PLOTLY_CLOSE].join('\n');
}

/**
 * A saved page (a notebook's HTML export) with every copy of plotly.js that plotlyScript stored in it taken out,
 * and the library loaded once in its head from `src` instead, so pages published together share one file
 * (`npm run results`, scripts/results.ts: docs/results/plotly.min.js). The figures' own scripts wait for
 * `window.Plotly` (drawScript), so they draw as before. `removed` counts the copies taken out.
 */
export function externalisePlotly(html: string, src: string): { html: string; removed: number } {
  let out = '';
  let removed = 0;
  let at = 0;
  for (let open = html.indexOf(PLOTLY_OPEN); open >= 0; open = html.indexOf(PLOTLY_OPEN, at)) {
    const close = html.indexOf(PLOTLY_CLOSE, open + PLOTLY_OPEN.length);
    if (close < 0) throw new Error(`externalisePlotly: a copy of plotly.js opens at character ${open} and never closes`);
    out += html.slice(at, open);
    at = close + PLOTLY_CLOSE.length;
    removed++;
  }
  out += html.slice(at);
  const tags = `<script type="text/javascript">${PLOTLY_CONFIG}</script>\n<script type="text/javascript" src="${escapeHtml(src)}"></script>\n`;
  const head = out.search(/<\/head>/i);
  return { html: head >= 0 ? out.slice(0, head) + tags + out.slice(head) : tags + out, removed };
}

/**
 * Draw once `window.Plotly` exists. In a page it already does (the embedding script ran first); a live
 * frontend may render outputs out of order, so wait up to 10 s, then say in the div why nothing was drawn
 * instead of failing silently.
 */
function drawScript(id: string, figure: unknown, height: number): string {
  const json = JSON.stringify(figure).replace(/</g, '\\u003c');
  return `(function () {
  var fig = ${json};
  var tries = 0;
  function draw() {
    var el = document.getElementById(${JSON.stringify(id)});
    if (!el) return;
    if (window.Plotly) {
      fig.layout.height = fig.layout.height || ${height};
      window.Plotly.newPlot(el, fig.data, fig.layout, fig.config);
    } else if (tries++ < 100) {
      setTimeout(draw, 100);
    } else {
      el.textContent = 'plotly.js is not on this page: the notebook stores it once, with the first figure shown since ' +
        'the kernel started; re-run that cell, or call resetPlotlyEmbedding() and re-run this one.';
    }
  }
  draw();
})();`;
}
