/**
 * Publishing notebook pages: externalisePlotly (src/viz/figure.ts) takes the stored copies of plotly.js out of a
 * page and loads one shared file instead (what `npm run results` does to every page of docs/results/), and
 * bullets (src/viz/bullets.ts) shows a computed conclusion as a list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bullets } from '../../src/viz/bullets';
import { Figure, externalisePlotly, plotlyScript } from '../../src/viz/figure';

// plotly.js-dist-min's banner; present exactly where the library itself is embedded.
const MARKER = '* plotly.js v';

const figure = (y: number) => new Figure([{ type: 'bar', x: ['a'], y: [y] }]);

test('externalisePlotly: every stored copy out, one script tag in the head, the figures kept', () => {
  const first = figure(1).toHtml('inline');
  const second = figure(2).toHtml('none');
  const third = figure(3).toHtml('inline');
  const page = `<html><head><title>t</title></head><body>${first}<p>text</p>${second}${third}</body></html>`;
  assert.equal(page.split(MARKER).length - 1, 2);
  const { html, removed } = externalisePlotly(page, 'plotly.min.js');
  assert.equal(removed, 2);
  assert.equal(html.includes(MARKER), false, 'no copy of the library is left');
  assert.ok(html.length < 20_000, `the page is small: ${html.length} characters`);
  assert.equal(html.split('Plotly.newPlot').length - 1, 3, "every figure's drawing script stays");
  assert.match(html, /<head><title>t<\/title><script type="text\/javascript">window\.PlotlyConfig = \{ MathJaxConfig: 'local' \};<\/script>\n<script type="text\/javascript" src="plotly\.min\.js"><\/script>\n<\/head>/);
  assert.equal(html.replace(/<script type="text\/javascript">window\.PlotlyConfig[^\n]*\n<script[^\n]*\n/, ''), page.replace(plotlyScript(), '').replace(plotlyScript(), ''),
    'only the copies changed, and the two tags were added');
});

test('externalisePlotly: a page without a head or a figure, an attribute-safe src, and a copy cut short', () => {
  const bare = externalisePlotly('<p>no figures</p>', 'lib/plotly "3".js');
  assert.equal(bare.removed, 0);
  assert.match(bare.html, /^<script type="text\/javascript">window\.PlotlyConfig.*<\/script>\n<script type="text\/javascript" src="lib\/plotly &quot;3&quot;\.js"><\/script>\n<p>no figures<\/p>$/s);
  const cut = figure(1).toHtml('inline').slice(0, 5000);
  assert.throws(() => externalisePlotly(cut, 'plotly.min.js'), /externalisePlotly: a copy of plotly\.js opens at character 0 and never closes/);
});

test('bullets: an escaped HTML list in a notebook, dashed lines in text', () => {
  const bundle = bullets(['a < b & c', 'second']).toMimeBundle();
  assert.equal(bundle.data['text/html'], '<ul><li>a &lt; b &amp; c</li><li>second</li></ul>');
  assert.equal(bundle.data['text/plain'], '- a < b & c\n- second');
});
