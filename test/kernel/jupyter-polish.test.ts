/**
 * What a notebook user sees, over the wire, from one running kernel (issue 15): figures that draw after re-runs
 * (in the HTML export too), tracebacks in terms of the cell as typed and the lab's .ts sources, IPython's everyday
 * magics, clear_output, a display() that is not echoed, tensors printed like PyTorch, `npm start` without a browser.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { WireMessage } from '../../kernel/wire';
import { KernelClient, streamText } from './client';
import { ensureBuilt, LAUNCHER, PYTHON } from './harness';

const CHROMIUM = '/usr/bin/chromium';
// plotly.js-dist-min's banner: present exactly where the library itself is stored.
const LIBRARY = '* plotly.js v';

let kernel: KernelClient;

before(async () => {
  ensureBuilt();
  kernel = await KernelClient.start();
  await kernel.ready();
  const { reply } = await kernel.execute("import * as lab from 'transfusion-lab';\nimport * as aq from 'arquero';", 120_000);
  assert.equal(reply.content.status, 'ok', JSON.stringify(reply.content));
});

after(() => kernel?.close());

function outputsOf(outputs: readonly WireMessage[], type: string): WireMessage[] {
  return outputs.filter((m) => m.type === type);
}

function html(msg: WireMessage): string {
  return String((msg.content.data as Record<string, unknown>)['text/html'] ?? '');
}

function carriesLibrary(msg: WireMessage): boolean {
  return html(msg).includes(LIBRARY);
}

async function ok(code: string, cellId?: string): Promise<WireMessage[]> {
  const { reply, outputs } = await kernel.execute(code, 60_000, cellId);
  assert.equal(reply.content.status, 'ok', `${code}\n${JSON.stringify(reply.content)}`);
  return outputs;
}

async function failed(code: string): Promise<{ ename: string; evalue: string; traceback: string }> {
  const { reply, outputs } = await kernel.execute(code, 60_000);
  assert.equal(reply.content.status, 'error', `${code} should fail`);
  const error = outputsOf(outputs, 'error')[0];
  assert.ok(error, 'an error output');
  return { ename: String(error.content.ename), evalue: String(error.content.evalue), traceback: (error.content.traceback as string[]).join('\n') };
}

function result(outputs: readonly WireMessage[]): string | undefined {
  const r = outputsOf(outputs, 'execute_result')[0];
  return r ? String((r.content.data as Record<string, unknown>)['text/plain']) : undefined;
}

/** An nbformat 4 output from an IOPub message, as Jupyter saves it. */
function saved(msg: WireMessage): Record<string, unknown> {
  const { data, metadata } = msg.content as { data: unknown; metadata: unknown };
  if (msg.type === 'execute_result') return { output_type: 'execute_result', execution_count: msg.content.execution_count, data, metadata };
  return { output_type: 'display_data', data, metadata };
}

test('figures draw in the saved notebook after re-runs: plotly.js rides on one output, the re-run holder keeps it', { timeout: 240_000 }, async () => {
  const a = "new lab.Figure([{ type: 'scatter', y: [1, 3, 2] }], { title: { text: 'A' } })";
  const b = "lab.display(new lab.Figure([{ type: 'bar', y: [2, 1] }], { title: { text: 'B' } }));";
  const first = outputsOf(await ok(a, 'cell-a'), 'execute_result');
  assert.ok(carriesLibrary(first[0]), 'the first figure of the session carries plotly.js');
  const bOut = outputsOf(await ok(b, 'cell-b'), 'display_data');
  assert.equal(bOut.length, 1);
  assert.ok(!carriesLibrary(bOut[0]), 'a second cell reuses the page copy');
  // Re-running A replaces its output, library included: the new output must carry it again.
  const again = outputsOf(await ok(a, 'cell-a'), 'execute_result');
  assert.ok(carriesLibrary(again[0]), 'the re-run holder carries plotly.js again');
  // Two figures in one run of the holder: still one copy.
  const twice = await ok(`lab.display(new lab.Figure([{ y: [1, 2] }]));\n${a}`, 'cell-a');
  assert.deepEqual([...outputsOf(twice, 'display_data'), ...outputsOf(twice, 'execute_result')].map(carriesLibrary), [true, false]);
  const bAgain = outputsOf(await ok(b, 'cell-b'), 'display_data');
  assert.ok(!carriesLibrary(bAgain[0]));

  // The notebook as saved now (B above the holder), exported by nbconvert and opened offline in a browser.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polish-nb-'));
  try {
    const cell = (source: string, outputs: WireMessage[]) => ({ cell_type: 'code', execution_count: null, id: `c${Math.random().toString(36).slice(2, 8)}`, metadata: {}, source, outputs: outputs.map(saved) });
    const nb = {
      nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'transfusion', display_name: 'Transfusion Lab (TypeScript)', language: 'typescript' } },
      cells: [cell(b, bAgain), cell(a, twice.filter((m) => m.type === 'display_data' || m.type === 'execute_result'))],
    };
    fs.writeFileSync(path.join(dir, 'n.ipynb'), JSON.stringify(nb));
    const convert = spawnSync(PYTHON, ['-m', 'nbconvert', '--to', 'html', path.join(dir, 'n.ipynb')], { encoding: 'utf8', env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' } });
    assert.equal(convert.status, 0, convert.stderr);
    const page = path.join(dir, 'n.html');
    assert.equal(fs.readFileSync(page, 'utf8').split(LIBRARY).length - 1, 1, 'the export holds plotly.js once');
    if (!fs.existsSync(CHROMIUM)) return;
    const profile = path.join(dir, 'profile');
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', `--user-data-dir=${profile}`, '--virtual-time-budget=8000', '--dump-dom', `file://${page}`];
    const { stdout: dom } = await promisify(execFile)(CHROMIUM, flags, { timeout: 120_000, maxBuffer: 64 << 20 });
    const plots = [...dom.matchAll(/<div id="(tfplot-[^"]+)" class="transfusion-plot[^>]*>/g)];
    assert.equal(plots.length, 3, 'three figure divs on the page');
    for (const m of plots) {
      const drawn = dom.slice(m.index ?? 0, (m.index ?? 0) + 3000);
      assert.ok(drawn.includes('class="main-svg"'), `figure ${m[1]} drew: ${drawn.slice(0, 300)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a runtime error names the cell line as typed, with the lines around it, and lab frames name src/*.ts lines', async () => {
  const defined = ['function step(n: number): number {', '  if (n > 2) throw new RangeError(`bad step ${n}`);', '  return n;', '}'].join('\n');
  const { reply } = await kernel.execute(defined);
  const count = Number(reply.content.execution_count);
  const e = await failed(['const { PI } = Math;', '// a comment, then a blank line', '', 'step(1 + PI);'].join('\n'));
  assert.equal(e.ename, 'RangeError');
  assert.doesNotMatch(e.traceback, /evalmachine|transfusion-cell-/);
  // The function keeps the name of the cell that defined it; the call names its own cell's line.
  assert.ok(
    e.traceback.startsWith(`RangeError: bad step 4.141592653589793\n    at step (Cell In[${count}], line 2, column 20)\n    at Cell In[${count + 1}], line 4, column 1\n`),
    e.traceback,
  );
  assert.ok(e.traceback.endsWith(`\n\nCell In[${count}], line 2\n      1 function step(n: number): number {\n----> 2   if (n > 2) throw new RangeError(\`bad step \${n}\`);\n      3   return n;`), e.traceback);

  const awaited = await failed("await Promise.resolve();\nthrow new SyntaxError('after await');");
  assert.match(awaited.traceback, /^SyntaxError: after await\n {4}at (async )?Cell In\[\d+\], line 2, column 7\n\nCell In\[\d+\], line 2\n/);
  assert.doesNotMatch(awaited.traceback, /tslab|handler/, 'an awaited cell is cut above the kernel too');

  const lib = await failed("lab.makeSchedule({ kind: 'cosine', nope: 1 } as never);");
  assert.match(lib.traceback, /at (Object\.)?makeSchedule \(\S*src\/schedules\/make-schedule\.ts:\d+:\d+\)/);
  assert.doesNotMatch(lib.traceback, /\.js:\d+:\d+/);
  assert.match(lib.traceback, /at Cell In\[\d+\], line 1, column 5/);
});

test('%time, %%time and %timeit time TypeScript; the timed value is the result', { timeout: 120_000 }, async () => {
  const time = await ok('%time 1 + 1');
  assert.match(streamText(time, 'stdout'), /^CPU times: user [\d.]+ [µmn]?s, sys: [\d.]+ [µmn]?s, total: [\d.]+ [µmn]?s\nWall time: [\d.]+ [µmn]?s\n$/);
  assert.equal(result(time), '2');
  const cell = await ok('%%time\nconst doubled = [1, 2, 3].map((x) => x * 2);\ndoubled.length');
  assert.match(streamText(cell, 'stdout'), /^CPU times: .*\nWall time: /);
  assert.equal(result(cell), '3');
  const timeit = await ok('%timeit doubled.map((x) => x + 1)');
  assert.match(streamText(timeit, 'stdout'), /^[\d.]+ [µmn]?s ± [\d.]+ [µmn]?s per loop \(mean ± std\. dev\. of 7 runs, \d+ loops? each\)\n$/);
  assert.equal(result(timeit), undefined);
});

test('%env, %cd, %pwd, %who and %lsmagic; magic lines mix with code and keep its line numbers', async () => {
  assert.equal(streamText(await ok('%env POLISH_VAR=hello'), 'stdout'), 'env: POLISH_VAR=hello\n');
  assert.equal(result(await ok('process.env.POLISH_VAR')), "'hello'");
  assert.equal(result(await ok('%env POLISH_VAR')), "'hello'");
  const tmp = fs.realpathSync(os.tmpdir());
  assert.equal(streamText(await ok(`%cd ${tmp}`), 'stdout'), `${tmp}\n`);
  assert.equal(result(await ok('%pwd')), `'${tmp}'`);
  const who = streamText(await ok('const alpha = 1;\nlet beta = 2;\n%who'), 'stdout');
  assert.match(who, /(^|\t)alpha(\t|\n)/);
  assert.match(who, /(^|\t)beta(\t|\n)/);
  assert.match(streamText(await ok('%lsmagic'), 'stdout'), /%cd {2}%env {2}%lsmagic {2}%pwd {2}%time {2}%timeit {2}%who[\s\S]*%%time/);
  const mixed = await failed(`%cd ${tmp}\nconst gamma: number = 3;\nthrow new Error('third line');`);
  assert.match(mixed.traceback, /Cell In\[\d+\], line 3, column 7/);
  const complete = await kernel.request('is_complete_request', { code: '%time 1 + 1' });
  assert.equal(complete.content.status, 'complete');
});

test('an unknown magic fails naming the magics the kernel has', async () => {
  const e = await failed('%matplotlib inline');
  assert.equal(e.ename, 'UsageError');
  assert.equal(e.evalue, '%matplotlib is not supported by this kernel. Line magics: %cd, %env, %lsmagic, %pwd, %time, %timeit, %who; cell magics: %%time.');
  assert.equal((await failed('%%bash\nls')).evalue.split('.')[0], '%%bash is not supported by this kernel');
});

test('clearOutput({ wait }) clears the cell output; a cell ending in display(x) shows x once, with no Out', async () => {
  const cleared = await ok("console.log('old');\nlab.clearOutput({ wait: true });\nconsole.log('new');\nlab.clearOutput();");
  assert.deepEqual(cleared.filter((m) => m.type === 'clear_output' || m.type === 'stream').map((m) => (m.type === 'stream' ? m.content.text : m.content.wait)), ['old\n', true, 'new\n', false]);
  const shown = await ok("lab.display(lab.table(aq.from([{ arm: 'a', loss: 1 }])))");
  assert.equal(outputsOf(shown, 'display_data').length, 1);
  assert.equal(outputsOf(shown, 'execute_result').length, 0, 'no Out[n]: { displayId, update }');
  const handle = await ok("const handle = lab.display(lab.table(aq.from([{ arm: 'b', loss: 2 }])));\nhandle.displayId.startsWith('display-')");
  assert.equal(result(handle), 'true');
});

test('tensors print like PyTorch, as a result and through console.log', async () => {
  assert.equal(result(await ok('lab.tf.tensor2d([[1, 2], [3, 4]])')), 'tensor([[1, 2],\n        [3, 4]], shape=[2, 2], dtype=float32)');
  assert.equal(streamText(await ok("console.log(lab.tf.range(0, 1000, 1, 'int32'))"), 'stdout'), 'tensor([0, 1, 2, ..., 997, 998, 999], shape=[1000], dtype=int32)\n');
});

test('inspecting inside a call shows the called function: its signature and its doc comment', async () => {
  for (const code of ['lab.trainRun(', "lab.trainRun({ name: 'x', steps: 5", 'const r = await lab.trainRun(\n']) {
    const reply = await kernel.request('inspect_request', { code, cursor_pos: code.length, detail_level: 0 });
    assert.equal(reply.content.found, true, code);
    const text = String((reply.content.data as Record<string, unknown>)['text/plain']);
    assert.match(text, /^function trainRun\(options: (lab\.)?TrainRunOptions\): Promise<(lab\.)?TrainRunResult(<[^\n]*>)?>/, code);
    assert.match(text, /Train, record, sample, evaluate and checkpoint one run/, code);
  }
  const outside = await kernel.request('inspect_request', { code: 'lab.trainRun(1); ', cursor_pos: 17, detail_level: 0 });
  assert.equal(outside.content.found, false, 'after the call has closed there is nothing to show');
});

test('inspecting inside a call lists the fields of the options object it takes, with their docs and defaults', async () => {
  const inspect = async (code: string, cursor = code.length): Promise<string> => {
    const reply = await kernel.request('inspect_request', { code, cursor_pos: cursor, detail_level: 0 });
    assert.equal(reply.content.found, true, code);
    return String((reply.content.data as Record<string, unknown>)['text/plain']);
  };
  const typing = "lab.trainRun({ name: 'x', steps: 5";
  // Inside the parentheses, on a field name, and right after a field's colon: the call and its options' fields.
  for (const [code, cursor] of [['lab.trainRun(', 13], [typing, typing.length], [typing, typing.indexOf('steps') + 2], ['lab.trainRun({ steps: ', 22]] as const) {
    const text = await inspect(code, cursor);
    const where = `${code} at ${cursor}:\n${text}`;
    assert.match(text, /^function trainRun\(options: (lab\.)?TrainRunOptions\)/, where);
    assert.match(text, /Train, record, sample, evaluate and checkpoint one run/, where);
    // src/experiments/train-run.ts and experiment-config.ts (TrainRunOptions extends ExperimentSpec).
    assert.match(text, /\n\noptions: (lab\.)?TrainRunOptions \{\n/, where);
    assert.match(text, /^ {2}name: string; {2}\/\/ Folder name of the run under `root`\.$/m, where);
    assert.match(text, /^ {2}root\?: string; {2}\/\/ Parent folder \(default 'runs'\)\.$/m, where);
    // The default is in the doc's second sentence; the line carries it.
    assert.match(text, /^ {2}steps\?: number; {2}\/\/ Optimiser steps\. Default 200 \(about a minute/m, where);
    assert.match(text, /^ {2}batchSize\?: number; {2}\/\/ Rows per batch\. Default 8\.$/m, where);
    // A nested options object shows its type's name, for inspecting further.
    assert.match(text, /^ {2}model\?: DeepPartial<(lab\.)?TransfusionConfig>;/m, where);
    assert.match(text, /\n\}$/, where);
  }
  // A field's value is not the call: it is inspected itself, as before.
  assert.match(await inspect("const runName = 'x';\nlab.trainRun({ name: runName"), /^const runName: "x"/);
  // Parameters that are no options object (a string; numbers in a rest parameter, an array) list no fields.
  for (const code of ['lab.readMetrics(', 'Math.max(1, ']) {
    const text = await inspect(code);
    assert.match(text, /^(function|\(method\)) /, code);
    assert.doesNotMatch(text, /\{\n {2}\w/, `${code}: no field list\n${text}`);
  }
  // lab.runSamples(model: Transfusion, samples: SampleConfig, seed: number): the class instance is skipped, the
  // plain object listed.
  const samples = await inspect('lab.runSamples(');
  assert.match(samples, /\n\nsamples: (lab\.)?SampleConfig \{\n {2}captions: readonly string\[\]; {2}\/\/ Prompts, one image each\. Default: /, samples);
});

test('npm start opens no browser with NO_BROWSER=1, --no-browser, or `npm start --no-browser`', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polish-start-'));
  try {
    const log = path.join(dir, 'args');
    const jupyter = path.join(dir, 'jupyter');
    fs.writeFileSync(jupyter, `#!/bin/sh\necho "$@" >> ${log}\n`, { mode: 0o755 });
    const start = path.join(path.dirname(LAUNCHER), 'start.js');
    const served = (env: Record<string, string>, args: string[] = []): string => {
      fs.rmSync(log, { force: true });
      const base: NodeJS.ProcessEnv = { ...process.env, JUPYTER: jupyter, DISPLAY: ':0' };
      for (const k of ['NO_BROWSER', 'TRANSFUSION_NO_BROWSER', 'npm_config_browser']) delete base[k];
      const run = spawnSync(process.execPath, [start, ...args], { encoding: 'utf8', env: { ...base, ...env } });
      assert.equal(run.status, 0, run.stderr);
      return fs.readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('notebook')) ?? '';
    };
    assert.doesNotMatch(served({}), /--no-browser/, 'a desktop session opens one by default');
    assert.match(served({ NO_BROWSER: '1' }), /--no-browser/);
    assert.match(served({ TRANSFUSION_NO_BROWSER: '1' }), /--no-browser/);
    assert.match(served({ npm_config_browser: '' }), /--no-browser/);
    assert.equal(served({ NO_BROWSER: '1' }, ['--no-browser']).split('--no-browser').length - 1, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
