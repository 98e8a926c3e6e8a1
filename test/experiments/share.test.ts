import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import * as aq from 'arquero';
import { tf } from '../../src/engine/tf';
import { initEngine } from '../../src/engine/engine';
import { compareRuns, comparisonPlots, incomparableLosses } from '../../src/experiments/compare';
import { loadRun, runDirs } from '../../src/experiments/load-run';
import { writeReport } from '../../src/experiments/report';
import { sweep } from '../../src/experiments/sweep';
import { runSamples } from '../../src/experiments/train-run';
import { crc32, zipRun } from '../../src/experiments/zip';

let root: string;
let sweepDir: string;
const ARMS = ['lambda=1,seed=0', 'lambda=1,seed=1', 'lambda=4,seed=0', 'lambda=4,seed=1'];

before(async () => {
  await initEngine();
  root = fs.mkdtempSync(join(tmpdir(), 'tf-share-'));
  const result = await sweep(
    {
      model: { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } },
      batchSize: 4,
      steps: 3,
      samples: { captions: ['the digit 3', 'the digit 8'], generate: { sampler: { kind: 'ddim', steps: 2 } } },
    },
    { 'objective.lambda': [1, 4] },
    {
      name: 'share', root, seeds: [0, 1], progress: false,
      // A fake evaluation with known values: compare and plots must carry them through exactly.
      evaluate: (_model, { config }) => ({ fid: 10 * config.model.objective.lambda + config.seed, n: 4, label: 'fake' }),
    },
  );
  sweepDir = result.dir;
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('compareRuns: one row per run with arm fields, final losses (mean of the last steps) and evaluation', () => {
  const table = compareRuns(sweepDir, { window: 2 });
  assert.equal(table.numRows(), 4);
  const rows = table.objects() as Record<string, unknown>[];
  assert.deepEqual(rows.map((r) => r.run), ARMS);
  assert.deepEqual(rows.map((r) => r.arm), ['lambda=1', 'lambda=1', 'lambda=4', 'lambda=4']);
  assert.deepEqual(rows.map((r) => r.seed), [0, 1, 0, 1]);
  assert.deepEqual(rows.map((r) => r['objective.lambda']), [1, 1, 4, 4]);
  assert.deepEqual(rows.map((r) => r.status), ['finished', 'finished', 'finished', 'finished']);
  assert.deepEqual(rows.map((r) => r['eval.fid']), [10, 11, 40, 41]);
  assert.deepEqual(rows.map((r) => r['eval.label']), ['fake', 'fake', 'fake', 'fake']);
  for (const row of rows) {
    const history = loadRun(row.dir as string).history;
    for (const k of ['loss', 'lm', 'diffusion']) assert.equal(row[k], mean(history.slice(-2).map((h) => h[k] as number)), `${row.run} ${k}`);
  }
  assert.deepEqual(compareRuns([join(sweepDir, ARMS[2])]).array('run'), [ARMS[2]]);
  assert.throws(() => compareRuns(join(root, 'missing')), /missing does not exist/);
});

test('comparisonPlots: curves per arm (seeds share a colour and a legend entry), bars per metric with seed spread', () => {
  const { curves, bars } = comparisonPlots(compareRuns(sweepDir));
  assert.ok(curves && bars);
  const legend = curves.data.filter((t) => t.showlegend === true).map((t) => t.name);
  assert.deepEqual(legend, ['lambda=1', 'lambda=4']);
  const smoothed = curves.data.filter((t) => !String(t.name).endsWith('(raw)'));
  assert.equal(smoothed.length, 3 * 4, 'loss, lm and diffusion for each of the four runs');
  const panels = bars.data.map((t) => t.name);
  // lambda scales the diffusion term inside the total, so the total loss is named as not comparable across arms.
  assert.deepEqual(panels, ['final loss (not comparable: lambda differs)', 'final lm', 'final diffusion', 'fid']);
  const curvePanels = [...new Set(smoothed.map((t) => (t as { yaxis?: string }).yaxis))];
  assert.equal(curvePanels.length, 3);
  assert.match(JSON.stringify(curves.layout), /loss \(not comparable: lambda differs\)/);
  const fid = bars.data[3] as { x: string[]; y: number[]; error_y: { array: number[] } };
  assert.deepEqual(fid.x, ['lambda=1', 'lambda=4']);
  assert.deepEqual(fid.y, [10.5, 40.5]);
  assert.deepEqual(fid.error_y.array.map((s) => s.toFixed(6)), [Math.SQRT1_2, Math.SQRT1_2].map((s) => s.toFixed(6)));
});

test('incomparableLosses names the fields that change what each training loss measures', () => {
  const runs = runDirs(sweepDir).map(loadRun);
  assert.deepEqual(incomparableLosses(runs), { loss: ['lambda'] });
  assert.deepEqual(incomparableLosses(runs.filter((r) => r.config.model.objective.lambda === 1)), {});
  const reweighted = { ...runs[0], config: { ...runs[0].config, model: { ...runs[0].config.model, objective: { ...runs[0].config.model.objective, weighting: { kind: 'min-snr', gamma: 5 } } } } };
  assert.deepEqual(incomparableLosses([runs[0], reweighted as typeof runs[0]]), { loss: ['weighting'], diffusion: ['weighting'] });
});

test('writeReport: self-contained HTML with plotly inlined once, every sample grid as a data: URI, no remote scripts', () => {
  const path = writeReport(sweepDir);
  assert.equal(path, join(sweepDir, 'report.html'));
  const html = fs.readFileSync(path, 'utf8');
  assert.equal(html.match(/window\.PlotlyConfig = /g)?.length, 1, 'plotly.js is embedded exactly once');
  assert.equal(html.match(/class="transfusion-plot"/g)?.length, 2, 'the curves and the bars');
  assert.equal(html.match(/<img src="data:image\/png;base64,/g)?.length, 4);
  assert.doesNotMatch(html, /<script[^>]*\bsrc\s*=/i);
  assert.doesNotMatch(html, /<link[^>]*href\s*=\s*["']?https?:/i);
  for (const arm of ARMS) assert.ok(html.includes(arm), arm);
  assert.match(html, /<table/);

  const runReport = fs.readFileSync(writeReport(join(sweepDir, ARMS[0])), 'utf8');
  assert.equal(runReport.match(/window\.PlotlyConfig = /g)?.length, 1);
  assert.match(runReport, /Training losses/);
  assert.equal(runReport.match(/<img src="data:image\/png;base64,/g)?.length, 1);
  const png = fs.readFileSync(join(sweepDir, ARMS[0], 'samples', 'final.png')).toString('base64');
  assert.ok(runReport.includes(png), 'the sample grid is the saved PNG');
  assert.doesNotMatch(runReport, /<script[^>]*\bsrc\s*=/i);
});

/** The entries of a zip, read from its central directory (APPNOTE 4.3.12, 4.3.16) and inflated. */
function readZip(buffer: Buffer): Map<string, Buffer> {
  const end = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buffer.readUInt16LE(end + 10);
  let at = buffer.readUInt32LE(end + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    assert.equal(buffer.readUInt32LE(at), 0x02014b50);
    const method = buffer.readUInt16LE(at + 10);
    const crc = buffer.readUInt32LE(at + 16);
    const size = buffer.readUInt32LE(at + 20);
    const nameLength = buffer.readUInt16LE(at + 28);
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const dataStart = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const body = buffer.subarray(dataStart, dataStart + size);
    const data = method === 0 ? body : zlib.inflateRawSync(body);
    assert.equal(crc32(data), crc, name);
    out.set(name, data);
    at += 46 + nameLength + buffer.readUInt16LE(at + 30) + buffer.readUInt16LE(at + 32);
  }
  return out;
}

function filesUnder(dir: string, prefix: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]);
}

test('zipRun: every file of the run under its folder name, byte-identical; unzip agrees', () => {
  const dir = join(sweepDir, ARMS[1]);
  writeReport(dir);
  const zip = zipRun(dir);
  assert.equal(zip, `${dir}.zip`);
  const entries = readZip(fs.readFileSync(zip));
  const expected = filesUnder(dir, `${ARMS[1]}/`).sort();
  assert.deepEqual([...entries.keys()].sort(), expected);
  assert.ok(expected.includes(`${ARMS[1]}/checkpoint.safetensors`) && expected.includes(`${ARMS[1]}/samples/final.png`));
  for (const name of expected) assert.deepEqual(entries.get(name), fs.readFileSync(join(sweepDir, name)), name);
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'the CRC-32 check value of the standard');
  if (fs.existsSync('/usr/bin/unzip')) {
    const listing = execFileSync('/usr/bin/unzip', ['-l', zip], { encoding: 'utf8' });
    for (const name of expected) assert.ok(listing.includes(name), name);
    assert.match(execFileSync('/usr/bin/unzip', ['-t', zip], { encoding: 'utf8' }), /No errors detected/);
  }
});

test('a shared run loads back elsewhere: config, metrics, evals, and a checkpoint that redraws the same samples', async () => {
  const dir = join(sweepDir, ARMS[2]);
  const elsewhere = fs.mkdtempSync(join(tmpdir(), 'tf-elsewhere-'));
  try {
    const entries = readZip(fs.readFileSync(zipRun(dir)));
    for (const [name, data] of entries) {
      fs.mkdirSync(join(elsewhere, name, '..'), { recursive: true });
      fs.writeFileSync(join(elsewhere, name), data);
    }
    const original = loadRun(dir);
    const copy = loadRun(join(elsewhere, ARMS[2]));
    assert.deepEqual(copy.config, original.config);
    assert.deepEqual(copy.record, original.record);
    assert.deepEqual(copy.metrics.objects(), original.metrics.objects());
    assert.deepEqual(copy.metrics.objects(), aq.fromCSV(fs.readFileSync(join(dir, 'metrics.csv'), 'utf8')).objects());
    assert.deepEqual(copy.evals, [{ trainStep: 3, fid: 40, n: 4, label: 'fake' }]);
    assert.equal(copy.samples.length, 1);

    const tensors = tf.memory().numTensors;
    const { model, trainer } = copy.restore();
    assert.equal(trainer?.step, 3);
    model.eval();
    const grid = await runSamples(model, copy.config.samples!, copy.config.seed);
    assert.deepEqual(grid.png, fs.readFileSync(copy.samples[0]), 'same checkpoint, same seed: the same sample grid');
    trainer?.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, tensors);
  } finally {
    fs.rmSync(elsewhere, { recursive: true, force: true });
  }
  assert.throws(() => runDirs(root), /holds no runs \(no run\.json in it or in its sub-folders\)/, 'the root holds a sweep folder, not runs');
});
