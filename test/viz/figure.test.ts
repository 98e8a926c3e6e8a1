import { test } from 'node:test';
import assert from 'node:assert/strict';
import { display, KERNEL_HOOK, updateDisplay } from '../../src/viz/display';
import { Figure, plotlyIsEmbedded, plotlyJs, resetPlotlyEmbedding } from '../../src/viz/figure';
import type { MimeBundle } from '../../src/viz/mime';

// plotly.js-dist-min's banner; present exactly where the library itself is embedded.
const MARKER = '* plotly.js v';

function html(fig: Figure): string {
  return fig.toMimeBundle().data['text/html'] as string;
}

test('the bundle holds plotly JSON, HTML and a one-line description', () => {
  const fig = new Figure([{ type: 'scatter', x: [1, 2, 3], y: [4, NaN, 6] }], { title: { text: 'demo' } });
  const bundle = fig.toMimeBundle();
  assert.deepEqual(Object.keys(bundle.data).sort(), ['application/vnd.plotly.v1+json', 'text/html', 'text/plain']);
  const json = bundle.data['application/vnd.plotly.v1+json'];
  // Round-trips through JSON text unchanged: it is plain JSON, with NaN as null (a gap in the line).
  assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
  assert.deepEqual(json, { data: [{ type: 'scatter', x: [1, 2, 3], y: [4, null, 6] }], layout: { title: { text: 'demo' } } });
  assert.equal(bundle.data['text/plain'], 'Figure "demo": 1 trace (scatter x1)');
  assert.doesNotMatch(bundle.data['text/plain'] as string, /\n/);
});

test('plotly.js is embedded inline in the first figure of the process only, and again after a reset', () => {
  resetPlotlyEmbedding();
  assert.equal(plotlyIsEmbedded(), false);
  const first = html(new Figure([{ type: 'bar', x: ['a'], y: [1] }]));
  const second = html(new Figure([{ type: 'bar', x: ['b'], y: [2] }]));
  const library = plotlyJs();
  assert.ok(library.length > 1_000_000, 'the installed bundle is the full library');
  assert.equal(first.split(MARKER).length - 1, 1);
  assert.ok(first.length > library.length);
  assert.equal(second.split(MARKER).length - 1, 0);
  assert.ok(second.length < 5_000, `second figure is ${second.length} chars`);
  // No CDN: the page never fetches plotly.js.
  assert.doesNotMatch(first + second, /<script[^>]+src=/);
  // The guard: a page that already has window.Plotly skips the library; later figures wait for it.
  assert.match(first, /if \(!window\.Plotly\)/);
  assert.match(second, /window\.Plotly\.newPlot\(el, fig\.data, fig\.layout, fig\.config\)/);
  assert.equal(plotlyIsEmbedded(), true);
  resetPlotlyEmbedding();
  assert.equal(html(new Figure([])).split(MARKER).length - 1, 1);
  assert.equal(new Figure([]).toHtml('inline').split(MARKER).length - 1, 1);
  assert.equal(new Figure([]).toHtml('none').split(MARKER).length - 1, 0);
});

test('each figure draws into its own div, and text cannot close the script early', () => {
  const a = new Figure([{ type: 'scatter', name: '</script><b>x', y: [1] }]).toHtml('none');
  const b = new Figure([]).toHtml('none');
  const id = (h: string) => /<div id="([^"]+)"/.exec(h)?.[1];
  assert.ok(id(a) && id(b) && id(a) !== id(b));
  assert.ok(a.includes(`document.getElementById(${JSON.stringify(id(a))})`));
  assert.equal(a.split('</script>').length - 1, 1, 'only the real closing tag');
  assert.ok(a.includes('\\u003c/script>\\u003cb>x'));
});

test('typed arrays become plain arrays, and withLayout merges the top level', () => {
  const fig = new Figure([{ type: 'scatter', y: new Float32Array([0.5, 1.5]) }], { height: 300, title: { text: 't' } });
  assert.deepEqual(fig.toJSON().data, [{ type: 'scatter', y: [0.5, 1.5] }]);
  // Numbers keep 7 significant digits (float32's precision); integers and non-finite values are as before.
  const rounded = new Figure([{ y: [0.07123456789012345, 1 / 3, 123456789, -2.5e-9 / 3, NaN], z: new Float32Array([0.1]) }]).toJSON().data;
  assert.deepEqual(rounded, [{ y: [0.07123457, 0.3333333, 123456789, -8.333333e-10, null], z: [0.1] }]);
  const taller = fig.withLayout({ height: 500 });
  assert.deepEqual(taller.layout, { height: 500, title: { text: 't' } });
  assert.deepEqual(fig.layout, { height: 300, title: { text: 't' } });
  assert.match(taller.toHtml('none'), /height:500px/);
});

test('in a kernel, the kernel decides which figure carries plotly.js, and an update keeps what its output had', () => {
  const sent: { html: string; update: boolean }[] = [];
  const asked: boolean[] = [];
  let holder = false;
  const g = globalThis as Record<symbol, unknown>;
  g[KERNEL_HOOK] = {
    display: (bundle: MimeBundle, opts?: { update?: boolean }) => sent.push({ html: String(bundle.data['text/html']), update: opts?.update ?? false }),
    carry: (_resource: string, force: boolean) => (asked.push(force), force || !holder ? (holder = true) : false),
  };
  try {
    const live = display(new Figure([{ y: [1] }]));
    const other = display(new Figure([{ y: [2] }]));
    live.update(new Figure([{ y: [1, 2] }]));
    other.update(new Figure([{ y: [2, 3] }]));
    resetPlotlyEmbedding();
    updateDisplay(other.displayId, new Figure([{ y: [2, 3, 4] }]));
    other.update(new Figure([{ y: [2, 3, 4, 5] }]));
  } finally {
    delete g[KERNEL_HOOK];
  }
  assert.deepEqual(sent.map((s) => s.html.includes(MARKER)), [true, false, true, false, true, true]);
  assert.deepEqual(asked, [false, false, true], 'updates do not ask the kernel, unless a reset forces a copy');
});
