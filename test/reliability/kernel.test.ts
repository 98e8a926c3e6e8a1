/**
 * The kernel keeps a session alive through what a new user's cell can do to the process it runs in: exit,
 * abort or kill it, throw from a timer, leave a promise rejected. Each case asserts what the notebook shows
 * (the error reply, or the stderr stream) and that the next cell still sees the earlier cells' variables.
 * The kernel runs on the wasm engine, the fallback of a lab whose native addon is not built, because its
 * Emscripten runtime rethrows any rejection or exception that reaches the process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelClient, streamText } from '../kernel/client';
import { ensureBuilt } from '../kernel/harness';

const ENV = { TRANSFUSION_BACKEND: 'wasm' };
const RESTART_HINT = /is not allowed in a cell: it would end the kernel .* restart the kernel instead/;

let kernel: KernelClient;
let early: Promise<unknown[]>;

before(async () => {
  ensureBuilt();
  kernel = await KernelClient.start(ENV);
  // Sent the moment the process exists, long before it has loaded the engine and the compiler.
  early = Promise.all([kernel.request('kernel_info_request', {}), kernel.request('execute_request', { code: '6 * 7', silent: false })]);
  // The first case reads the outcome; when it is run alone, a kernel that died must not fail the run here.
  early.catch(() => undefined);
});

after(() => kernel.close());

/** The kernel, started again if an earlier case ended it, so each case fails for its own reason. */
async function live(): Promise<KernelClient> {
  if (!kernel.alive) {
    await kernel.close();
    kernel = await KernelClient.start(ENV);
  }
  await kernel.ready();
  return kernel;
}

async function value(k: KernelClient, code: string): Promise<unknown> {
  const { reply, outputs } = await k.execute(code);
  assert.equal(reply.content.status, 'ok', JSON.stringify(reply.content));
  return outputs.find((m) => m.type === 'execute_result')?.content.data;
}

/** Run a cell that must fail; its error reply's ename and evalue. */
async function failure(k: KernelClient, code: string): Promise<{ ename: unknown; evalue: string }> {
  return (await failureWithTraceback(k, code)).error;
}

async function failureWithTraceback(k: KernelClient, code: string): Promise<{ error: { ename: unknown; evalue: string }; traceback: string[] }> {
  const { reply } = await k.execute(code);
  assert.equal(reply.content.status, 'error', `${code}: ${JSON.stringify(reply.content)}`);
  return { error: { ename: reply.content.ename, evalue: String(reply.content.evalue) }, traceback: reply.content.traceback as string[] };
}

test('requests sent before the kernel has started are answered, and the start logs nothing alarming', { timeout: 60_000 }, async () => {
  const [info, executed] = (await early) as Awaited<ReturnType<KernelClient['request']>>[];
  assert.equal(info.content.status, 'ok');
  assert.equal(info.content.implementation, 'transfusion');
  assert.deepEqual([executed.content.status, executed.content.execution_count], ['ok', 1]);
  assert.doesNotMatch(kernel.stderr, /Unhandled|Uncaught|Warning|Error/, kernel.stderr);
});

test('process.exit() in a cell is an error that says to restart instead, and the variables survive', { timeout: 60_000 }, async () => {
  const k = await live();
  await k.execute("let kept = 'still here'");
  const { error, traceback } = await failureWithTraceback(k, 'function quit() {\n  process.exit(3);\n}\nquit()');
  assert.equal(error.ename, 'KernelExitError');
  assert.match(error.evalue, /^process\.exit\(3\) is not allowed in a cell/);
  assert.match(error.evalue, RESTART_HINT);
  assert.match(traceback[0], /^KernelExitError: process\.exit\(3\)/, 'the traceback starts at the error, not at a kernel source line');
  assert.match(traceback[1], /^\s+at quit \(/);
  assert.deepEqual(await value(k, 'kept'), { 'text/plain': "'still here'" });
});

test('process.abort() and process.kill(process.pid) fail their cells the same way; kill(pid, 0) still works', { timeout: 60_000 }, async () => {
  const k = await live();
  assert.deepEqual(await failure(k, 'process.abort()').then((f) => [f.ename, RESTART_HINT.test(f.evalue)]), ['KernelExitError', true]);
  const killed = await failure(k, 'process.kill(process.pid)');
  assert.equal(killed.ename, 'KernelExitError');
  assert.match(killed.evalue, /^process\.kill\(\d+, 'SIGTERM'\) is not allowed in a cell/);
  assert.equal((await failure(k, "process.kill(-process.pid, 'SIGKILL')")).ename, 'KernelExitError');
  assert.deepEqual(await value(k, 'process.kill(process.pid, 0)'), { 'text/plain': 'true' });
});

test('process.exit() from a timer, after its cell returned, is reported on that cell\'s stderr', { timeout: 60_000 }, async () => {
  const k = await live();
  const { reply } = await k.execute("let count = 5; setTimeout(() => process.exit(), 20); 'scheduled'");
  const outputs = await k.iopubUntil(reply.parent.msg_id, (msgs) => streamText(msgs, 'stderr').includes('KernelExitError'));
  assert.match(streamText(outputs, 'stderr'), /^Uncaught exception \(the kernel keeps running\): KernelExitError: process\.exit\(\) is not allowed in a cell/);
  assert.deepEqual(await value(k, 'count + 1'), { 'text/plain': '6' });
});

test('a promise the cell rejected and never awaited is reported in that cell, before its reply', { timeout: 60_000 }, async () => {
  const k = await live();
  const { reply, outputs } = await k.execute("Promise.reject(new Error('nobody awaited me')); 'returned'");
  assert.equal(reply.content.status, 'ok');
  assert.match(streamText(outputs, 'stderr'), /^Unhandled promise rejection \(the kernel keeps running\): Error: nobody awaited me\n\s+at /);
  assert.deepEqual(await value(k, '1 + 1'), { 'text/plain': '2' });
});

test('a rejection long after the cell returned is reported on its stderr, whatever the rejected value', { timeout: 60_000 }, async () => {
  const k = await live();
  const code = "setTimeout(() => { Promise.reject(new RangeError('later')); Promise.reject(Symbol('odd')); }, 20); 'scheduled'";
  const { reply } = await k.execute(code);
  const outputs = await k.iopubUntil(reply.parent.msg_id, (msgs) => streamText(msgs, 'stderr').includes('Symbol(odd)'));
  const stderr = streamText(outputs, 'stderr');
  assert.match(stderr, /^Unhandled promise rejection \(the kernel keeps running\): RangeError: later\n/);
  assert.match(stderr, /^Unhandled promise rejection \(the kernel keeps running\): Symbol\(odd\)$/m);
  assert.deepEqual(await value(k, "'alive'"), { 'text/plain': "'alive'" });
});

test('an exception thrown in a timer, an Error or null, is reported on stderr and the kernel lives on', { timeout: 60_000 }, async () => {
  const k = await live();
  const { reply } = await k.execute("setTimeout(() => { throw new TypeError('in a timer'); }, 10); setTimeout(() => { throw null; }, 30); 'scheduled'");
  const outputs = await k.iopubUntil(reply.parent.msg_id, (msgs) => streamText(msgs, 'stderr').includes(': null'));
  const stderr = streamText(outputs, 'stderr');
  assert.match(stderr, /^Uncaught exception \(the kernel keeps running\): TypeError: in a timer\n/);
  assert.match(stderr, /^Uncaught exception \(the kernel keeps running\): null$/m);
  assert.deepEqual(await value(k, "'alive'"), { 'text/plain': "'alive'" });
});

test('a cell that throws a value that is not an Error fails with that value shown', { timeout: 60_000 }, async () => {
  const k = await live();
  for (const [code, shown] of [['throw 42', '42'], ['throw null', 'null'], ['throw undefined', 'undefined'], ["throw { code: 'E_BAD' }", "{ code: 'E_BAD' }"]]) {
    assert.deepEqual(await failure(k, code), { ename: 'Uncaught', evalue: shown }, code);
  }
});

test('shutdown_request still ends the process, even with a timer left running by a cell', { timeout: 60_000 }, async () => {
  const k = await live();
  await k.execute('setInterval(() => {}, 1000)');
  const reply = await k.request('shutdown_request', { restart: false }, { channel: 'control' });
  assert.deepEqual(reply.content, { status: 'ok', restart: false });
  assert.equal(await k.exited, 'exit code 0');
});

test('a cell that prints thousands of lines in a tight loop loses none of them, on either stream', { timeout: 60_000 }, async () => {
  const k = await live();
  // Alternating streams cannot be merged into one message, so this is well over zeromq.js's 512 sends in a row.
  const { reply, outputs } = await k.execute("for (let i = 0; i < 1500; i++) { console.log('out', i); console.error('err', i); } 'printed'");
  assert.equal(reply.content.status, 'ok');
  const lines = (name: 'stdout' | 'stderr', tag: string): string => Array.from({ length: 1500 }, (_, i) => `${tag} ${i}\n`).join('');
  assert.equal(streamText(outputs, 'stdout'), lines('stdout', 'out'));
  assert.equal(streamText(outputs, 'stderr'), lines('stderr', 'err'));
  assert.equal(outputs.filter((m) => m.type === 'execute_result').length, 1);
});
