/**
 * The one real-browser check: figures' text/html and an image grid, put in a page the way Jupyter's HTML
 * export does, must draw in headless Chromium with no network (plotly.js inline, once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { tf } from '../../src/engine/tf';
import { ablationBars } from '../../src/viz/ablation-plots';
import { resetPlotlyEmbedding } from '../../src/viz/figure';
import { imageGrid } from '../../src/viz/image-grid';
import { lossCurves } from '../../src/viz/loss-curves';
import { maskHeatmap } from '../../src/viz/mask-heatmap';

const CHROMIUM = '/usr/bin/chromium';
// The repository's gitignored out/ (tests run from the repository root, compiled or not).
const OUT = resolve(process.cwd(), 'out');

test('figures and an image grid render in headless Chromium, offline', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent: no browser check` }, async () => {
  resetPlotlyEmbedding();
  const figures = [
    lossCurves([1, 2, 3, 4, 5].map((step) => ({ step, loss: 2 / step, lm: 1 / step }))),
    maskHeatmap([[1, 0, 0], [1, 1, 1], [1, 1, 1]], { layoutLabels: ['T', 'I0', 'I1'] }),
    ablationBars([{ arm: 'causal', metric: 'loss', value: 2 }, { arm: 'bidir', metric: 'loss', value: 1.8, std: 0.1 }]),
  ];
  // Only the first figure carries plotly.js; the others must find window.Plotly.
  const parts = figures.map((f) => f.toMimeBundle().data['text/html'] as string);
  const images = tf.tidy(() => tf.linspace(-1, 1, 4 * 28 * 28).reshape([4, 28, 28, 1]));
  const grid = await imageGrid(images, { labels: ['a', 'b', 'c', 'd'] });
  images.dispose();
  const page = [
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>viz check</title></head><body>',
    '<div id="errors"></div><script>window.onerror = function (m) { document.getElementById("errors").textContent += "ERROR " + m; };</script>',
    ...parts.map((p, i) => `<section id="figure-${i}">${p}</section>`),
    `<img id="grid" onload="this.setAttribute('data-loaded', this.naturalWidth)" src="data:image/png;base64,${grid.png.toString('base64')}">`,
    '</body></html>',
  ].join('\n');
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, 'viz-check.html');
  writeFileSync(file, page);

  const profile = mkdtempSync(join(tmpdir(), 'viz-chromium-'));
  try {
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--virtual-time-budget=5000'];
    const { stdout: dom } = await promisify(execFile)(CHROMIUM, [...flags, '--dump-dom', `file://${file}`], { timeout: 90_000, maxBuffer: 64 << 20 });
    // The DOM holds plotly.js's own source, so look only at what the page rendered, and never print it whole.
    const errors = /<div id="errors">([^<]*)<\/div>/.exec(dom)?.[1];
    assert.equal(errors, '', 'no script error on the page');
    parts.forEach((part, i) => {
      const id = /<div id="([^"]+)" class="transfusion-plot"/.exec(part)?.[1];
      const at = dom.indexOf(`<div id="${id}"`);
      assert.ok(id && at >= 0, `figure ${i}'s div is on the page`);
      const drawn = dom.slice(at, at + 3000);
      assert.ok(drawn.includes('class="main-svg"'), `figure ${i} drew an SVG: ${drawn.slice(0, 300)}`);
      assert.ok(!drawn.includes('plotly.js is not loaded'), `figure ${i} found window.Plotly`);
    });
    assert.ok(dom.includes('class="heatmaplayer'), 'the mask drew as a heatmap');
    assert.ok(new RegExp(`id="grid"[^>]*data-loaded="${grid.width}"`).test(dom), 'the grid PNG decoded at its width');
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});
