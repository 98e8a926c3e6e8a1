/**
 * LabHandler against a scripted executor that keeps tslab's contract (a cell's last value through
 * `console.log(value)`, failures through `console.error(...)` and `false`), so each protocol rule is
 * checked exactly: counts, outputs, errors, aborts, interrupts, history, kernel_info, is_complete.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Executor } from 'tslab/dist/executor';
import { CellConsole, CellOutputs, cellTraceback, enclosingCallee, errorContent, isInvalid, LabHandler } from '../../kernel/handler';
import { DisplayContent, ErrorContent, ExecuteRequest } from '../../kernel/protocol';
import { clearInterrupt, interruptRequested, requestInterrupt } from '../../src/engine/interrupt';

type Cell = (console: CellConsole) => boolean | Promise<boolean>;

const STREAMS = ['stdout', 'stderr'] as const;
const realStreams = STREAMS.map((name) => Object.getOwnPropertyDescriptor(process, name)!);
// The handler routes the process's stdout/stderr to the cell that ran last, and a cell's turn lasts past its
// last microtask: the test runner's report, written meanwhile, would land in a recorder. Each test gives the
// handler streams of its own; the runner keeps the real ones it took when it started.
beforeEach(() => {
  for (const name of STREAMS) Object.defineProperty(process, name, { configurable: true, enumerable: true, value: { write: () => true } });
});
afterEach(() => {
  STREAMS.forEach((name, i) => Object.defineProperty(process, name, realStreams[i]));
  clearInterrupt();
});

function setup(cells: Record<string, Cell>): { handler: LabHandler } {
  const cellConsole = new CellConsole();
  const executor = {
    execute: async (code: string) => {
      const cell = cells[code];
      if (!cell) throw new Error(`no scripted cell for ${code}`);
      return cell(cellConsole);
    },
  } as unknown as Executor;
  return { handler: new LabHandler(executor, cellConsole, { version: '9.9.9', banner: 'test banner' }) };
}

type Event = [string, ...unknown[]];

function recorder(): CellOutputs & { events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    input: (code, n) => events.push(['input', code, n]),
    stream: (name, text) => events.push(['stream', name, text]),
    display: (content: DisplayContent, update: boolean) => events.push([update ? 'update' : 'display', content]),
    clear: (wait: boolean) => events.push(['clear', wait]),
    result: (n, content) => events.push(['result', n, content.data['text/plain']]),
    error: (content: ErrorContent) => events.push(['error', content.ename, content.evalue]),
  };
}

const req = (code: string, extra: Partial<ExecuteRequest> = {}): ExecuteRequest => ({ code, ...extra });

const CELLS: Record<string, Cell> = {
  answer: (c) => (c.log(42), true),
  nothing: () => true,
  print: () => (process.stdout.write('hi\n'), process.stderr.write(Buffer.from('err\n')), true),
  fail: (c) => (c.error(new RangeError('bad step')), false),
  diagnostic: (c) => (c.error('%s%d:%d - %s', '', 1, 7, "Cannot find name 'x'."), c.error('%s%d:%d - %s', '', 2, 1, 'Second.'), false),
  raise: () => (requestInterrupt(), true),
  flag: (c) => (c.log(interruptRequested()), true),
  bigint: (c) => (c.log(1n), true),
};

test('a cell with a value publishes input then result, counting from 1', async () => {
  const { handler } = setup(CELLS);
  const out = recorder();
  const reply = await handler.execute(req('answer'), out);
  assert.deepEqual(reply, { status: 'ok', execution_count: 1, user_expressions: {}, payload: [] });
  assert.deepEqual(out.events, [['input', 'answer', 1], ['result', 1, '42']]);
  const second = recorder();
  assert.equal((await handler.execute(req('nothing'), second)).execution_count, 2);
  assert.deepEqual(second.events, [['input', 'nothing', 2]], 'no value, no execute_result');
});

test('stdout and stderr of a cell become its stream messages', async () => {
  const { handler } = setup(CELLS);
  const out = recorder();
  await handler.execute(req('print'), out);
  assert.deepEqual(out.events.slice(1), [['stream', 'stdout', 'hi\n'], ['stream', 'stderr', 'err\n']]);
});

test('silent requests publish no input and no result and do not count; store_history decides history', async () => {
  const { handler } = setup(CELLS);
  const out = recorder();
  assert.equal((await handler.execute(req('answer', { silent: true }), out)).execution_count, 0);
  assert.deepEqual(out.events, []);
  await handler.execute(req('answer', { store_history: false }), recorder());
  await handler.execute(req('answer'), recorder());
  assert.deepEqual(handler.history.query({ hist_access_type: 'tail', output: true, raw: true, n: 10 }), [[1, 2, ['answer', '42']]]);
});

test('a thrown error becomes one error message and an error reply with name, value and traceback', async () => {
  const { handler } = setup(CELLS);
  const out = recorder();
  const reply = await handler.execute(req('fail'), out);
  assert.equal(reply.status, 'error');
  assert.equal(reply.execution_count, 1);
  assert.ok(reply.status === 'error' && reply.ename === 'RangeError' && reply.evalue === 'bad step' && reply.traceback[0].startsWith('RangeError: bad step'));
  assert.deepEqual(out.events, [['input', 'fail', 1], ['error', 'RangeError', 'bad step']]);
});

test('requests queued behind a failed cell are aborted; later ones run; stop_on_error=false keeps the queue', async () => {
  const { handler } = setup(CELLS);
  const failing = handler.execute(req('fail'), recorder());
  const queuedOut = recorder();
  const queued = handler.execute(req('answer'), queuedOut);
  assert.equal((await failing).status, 'error');
  assert.deepEqual(await queued, { status: 'aborted', execution_count: 1 });
  assert.deepEqual(queuedOut.events, [], 'an aborted request publishes nothing');
  assert.equal((await handler.execute(req('answer'), recorder())).status, 'ok');

  const tolerant = handler.execute(req('fail', { stop_on_error: false }), recorder());
  const after = handler.execute(req('answer'), recorder());
  assert.equal((await tolerant).status, 'error');
  assert.equal((await after).status, 'ok');
});

test('compiler diagnostics become a TSError whose traceback lists every diagnostic', () => {
  const { handler } = setup(CELLS);
  return handler.execute(req('diagnostic'), recorder()).then((reply) => {
    assert.equal(reply.status, 'error');
    assert.ok(reply.status === 'error');
    assert.equal(reply.ename, 'TSError');
    assert.equal(reply.evalue, "1:7 - Cannot find name 'x'.");
    assert.deepEqual(reply.traceback, ["1:7 - Cannot find name 'x'.", '2:1 - Second.']);
  });
});

test('the interrupt flag is lowered when a cell starts; a cell that ends with it raised is interrupted', async () => {
  const { handler } = setup(CELLS);
  requestInterrupt();
  const flagOut = recorder();
  await handler.execute(req('flag'), flagOut);
  assert.deepEqual(flagOut.events[1], ['result', 1, 'false']);
  const out = recorder();
  const reply = await handler.execute(req('raise'), out);
  assert.ok(reply.status === 'error' && reply.ename === 'Interrupted');
  assert.deepEqual(out.events.map((e) => e[0]), ['input', 'error']);
  const queuedBehind = handler.execute(req('answer'), recorder());
  assert.equal((await queuedBehind).status, 'ok', 'requested after the interrupted cell finished, so it runs');
});

test('a value JSON cannot carry fails its cell instead of vanishing', async () => {
  const { handler } = setup(CELLS);
  const out = recorder();
  const failingResult: CellOutputs = { ...out, result: (n, content) => void JSON.stringify({ n, content, big: 1n }) };
  const reply = await handler.execute(req('bigint'), failingResult);
  assert.ok(reply.status === 'error' && reply.ename === 'TypeError');
});

test('display output goes to the cell that ran last, and nowhere before the first cell', async () => {
  const { handler } = setup(CELLS);
  assert.equal(handler.outputArea(), null);
  const first = recorder();
  await handler.execute(req('nothing'), first);
  const second = recorder();
  await handler.execute(req('nothing'), second);
  handler.outputArea()!.display({ data: { 'text/plain': 'late' }, metadata: {}, transient: {} }, false);
  assert.equal(first.events.length, 1);
  assert.equal(second.events.at(-1)![0], 'display');
});

test('kernel_info carries status ok, the lab identity and the checking compiler version', () => {
  const { handler } = setup(CELLS);
  const info = handler.handleKernel();
  assert.equal(info.status, 'ok');
  assert.equal(info.implementation, 'transfusion');
  assert.equal(info.implementation_version, '9.9.9');
  assert.equal(info.banner, 'test banner');
  assert.equal(info.language_info.name, 'typescript');
  assert.match(info.language_info.version, /^5\.\d+\.\d+$/);
  assert.deepEqual(handler.handleShutdown({ restart: true }), { status: 'ok', restart: true });
});

test('is_complete: complete, incomplete (with indent), invalid', () => {
  const { handler } = setup(CELLS);
  for (const code of ['1 + 1', 'const x = [1, 2];', 'await Promise.resolve(1)']) {
    assert.equal(handler.handleIsComplete({ code }).status, 'complete', code);
  }
  assert.deepEqual(handler.handleIsComplete({ code: 'function f() {' }), { status: 'incomplete', indent: '  ' });
  for (const code of ['1 +* 2', 'const = 3;', ')']) assert.equal(handler.handleIsComplete({ code }).status, 'invalid', code);
  assert.equal(isInvalid('let a = 1;\nlet b = a +;'), true);
});

test('errorContent: non-Error throws, and tracebacks stop at the cell boundary', () => {
  assert.deepEqual(errorContent([['oops']]), { ename: 'Uncaught', evalue: "'oops'", traceback: ["Uncaught 'oops'"] });
  const e = new Error('boom');
  e.stack = ['Error: boom', '    at evalmachine.<anonymous>:2:7', '    at sigintHandlersWrap (node:vm:280:12)', '    at Object.execute (tslab/dist/executor.js:1:1)'].join('\n');
  assert.deepEqual(cellTraceback(e), ['Error: boom', '    at evalmachine.<anonymous>:2:7']);
  const refused = new Error('not allowed');
  refused.stack = [`${path.join(__dirname, '..', '..', 'kernel', 'guard.js')}:65`, '    throw new KernelExitError(...);', '    ^', '', 'KernelExitError: not allowed', '    at evalmachine.<anonymous>:3:9'].join('\n');
  assert.deepEqual(cellTraceback(refused), ['KernelExitError: not allowed', '    at evalmachine.<anonymous>:3:9'], "the kernel's own source line is not shown");
  const awaited = new Error('awaited');
  awaited.stack = ['Error: awaited', '    at async Cell In[2], line 5, column 1', '    at async Object.execute (/lab/node_modules/tslab/dist/executor.js:173:17)', '    at async LabHandler.runCode (/lab/kernel/handler.ts:332:16)'].join('\n');
  assert.deepEqual(cellTraceback(awaited), ['Error: awaited', '    at async Cell In[2], line 5, column 1'], 'an awaited cell stops above tslab too');
  const late = new Error('late');
  late.stack = 'Error: late\n    at Timeout._onTimeout (evalmachine.<anonymous>:3:9)';
  assert.deepEqual(cellTraceback(late), ['Error: late', '    at Timeout._onTimeout (evalmachine.<anonymous>:3:9)']);
});

test('without cell ids a cell is known by its code: a re-run of the cell holding plotly.js carries it again', async () => {
  const carried: boolean[] = [];
  const holder: { handler?: LabHandler } = {};
  const carry = (): boolean => holder.handler!.carry('plotly.js', false);
  const { handler } = setup({ plot: () => (carried.push(carry(), carry()), true), other: () => (carried.push(carry()), true) });
  holder.handler = handler;
  for (const code of ['plot', 'other', 'plot', 'other']) await handler.execute(req(code), recorder());
  assert.deepEqual(carried, [true, false, false, true, false, false]);
  assert.equal(handler.carry('plotly.js', true), true, 'resetPlotlyEmbedding() forces a copy');
});

test('enclosingCallee: the called name around a cursor in the parentheses, the innermost call winning', () => {
  assert.equal(enclosingCallee('lab.trainRun(', 13), 'lab.trainRun'.length);
  assert.equal(enclosingCallee('f(g(1), ', 8), 1);
  assert.equal(enclosingCallee('f(g(1', 5), 3);
  assert.equal(enclosingCallee('new Foo(', 8), 7);
  assert.equal(enclosingCallee('f(1); x', 7), null);
});
