/**
 * Runs cells: tslab's executor (compiler + vm) does the work; this handler adds what the lab's notebooks
 * need from the protocol and tslab leaves out:
 * - the last value becomes an `execute_result` with a MIME bundle (tslab prints it as text on stdout);
 * - errors become `error` messages with name, value and traceback (tslab writes them on stderr);
 * - the interrupt flag (src/engine/interrupt.ts) is lowered when each cell starts, and a cell that ends with
 *   it raised is reported as interrupted, so the cells queued behind it are aborted as in ipykernel;
 * - cells queued behind a failed cell are aborted exactly, not by tslab's 200 ms timer;
 * - a promise the cell rejected and left unhandled is reported among the cell's outputs, before its reply;
 * - `kernel_info_reply` and `shutdown_reply` carry `status: 'ok'`, and `is_complete` can answer `invalid`;
 * - shorthand properties naming an earlier cell's variables (`{ model }`) work (kernel/shorthand.ts);
 * - tracebacks name cell lines as typed, with the lines around the failing one (kernel/traceback.ts);
 * - IPython's everyday magics (kernel/magics.ts); a cell ending in `display(x)` shows x once, not its handle too;
 * - a page-wide resource (plotly.js) rides on one output per notebook (`carry`);
 * - inspecting inside a call's parentheses (`lab.trainRun(|`, or on a field of its options `{ steps|: 5 }`) shows
 *   the called function's signature and doc, and the fields of the options object it takes (kernel/inspect-fields.ts).
 * Completion is tslab's, inherited unchanged.
 */
import { format, TextDecoder } from 'node:util';
import * as ts from '@tslab/typescript-for-tslab';
import * as tslabJupyter from 'tslab/dist/jupyter';
import { JupyterHandlerImpl } from 'tslab/dist/jupyter';
import { ConsoleInterface, Executor } from 'tslab/dist/executor';
import { clearInterrupt, interruptRequested } from '../src/engine/interrupt';
import { alreadyShown } from '../src/viz/display';
import { OutputArea, resultOf } from './display';
import { History } from './history';
import { magicCode, maskMagics, Part, simpleMagic, splitMagics, startClock, timeit, timeitWrapper, unsupported } from './magics';
import { cellExcerpt, expectCell } from './traceback';
import { expandShorthands, originalColumn, type Expanded } from './shorthand';
import { atCallSlot, calleeEnd, innermostCall, inspectCall } from './inspect-fields';
import { DisplayContent, ErrorContent, ExecuteReply, ExecuteRequest } from './protocol';

/** The outputs of one execute request, bound by the server to that request's parent header. */
export interface CellOutputs extends OutputArea {
  input(code: string, executionCount: number): void;
  stream(name: 'stdout' | 'stderr', text: string): void;
  result(executionCount: number, content: DisplayContent): void;
  error(content: ErrorContent): void;
}

/** Who the kernel is, for `kernel_info_reply`. */
export interface KernelIdentity {
  readonly version: string;
  readonly banner: string;
}

const NOTHING = Symbol('nothing');

/**
 * The executor's console. tslab's executor reports a cell's last value with `log(value)` and failures
 * with `error(...)`: one argument for a thrown value, a format string and four values for each compiler
 * diagnostic. Capturing them here, instead of letting them reach stdout, is what turns them into protocol
 * messages.
 */
export class CellConsole implements ConsoleInterface {
  private value: unknown = NOTHING;
  private errors: unknown[][] = [];

  log(value?: unknown): void {
    this.value = value;
  }

  error(...args: unknown[]): void {
    this.errors.push(args);
  }

  /** What the cell that just ran reported; resets for the next cell. */
  take(): { value: unknown; errors: unknown[][] } {
    const taken = { value: this.value, errors: this.errors };
    this.value = NOTHING;
    this.errors = [];
    return taken;
  }
}

/** A cell that ended with an interrupt requested (the kernel's SIGINT, or requestInterrupt() in code). */
export const INTERRUPTED: ErrorContent = {
  ename: 'Interrupted',
  evalue: 'the cell ended after an interrupt request; its variables keep the state it reached',
  traceback: ['Interrupted: the cell ended after an interrupt request; its variables keep the state it reached.'],
};

/**
 * The stack of an error thrown by a cell, without the frames below the cell (Node's vm, tslab, this
 * kernel): they are the same for every cell and say nothing about the user's code.
 */
export function cellTraceback(e: Error): string[] {
  let lines = (e.stack ?? `${e.name}: ${e.message}`).split('\n');
  // Node puts the source line that threw above the stack ("file:line", the line, a caret, a blank line). It shows
  // the compiled cell, or the kernel's own line (kernel/guard.ts refusing process.exit); the traceback's excerpt
  // shows the cell as typed instead.
  if (/^\S+:\d+$/.test(lines[0]) && lines.indexOf('') > 0) lines = lines.slice(lines.indexOf('') + 1);
  // Below the cell: Node's vm for the synchronous part, tslab's executor awaiting an asynchronous one.
  const below = lines.findIndex((l) => /^\s+at .*(\(node:vm:|[/\\]tslab[/\\]dist[/\\]executor\.js:)/.test(l));
  return below < 0 ? lines : lines.slice(0, below);
}

/** The cell as tslab should compile it; the cell itself where it cannot be parsed for rewriting. */
function expandedCell(code: string): Expanded {
  try {
    return expandShorthands(code);
  } catch {
    return { code, insertions: [] };
  }
}

/** A compiler diagnostic of the cell (format, '', line, column, message) with its column as the user typed it. */
export function diagnosticAsTyped(args: unknown[], expanded: Expanded): unknown[] {
  if (expanded.insertions.length === 0 || args.length !== 5 || args[0] !== '%s%d:%d - %s' || args[1] !== '') return args;
  const [fmt, file, line, column, message] = args;
  if (typeof line !== 'number' || typeof column !== 'number') return args;
  return [fmt, file, line, originalColumn(expanded.insertions, line - 1, column - 1) + 1, message];
}

/** One `error` message from what the executor reported for a failed cell. */
export function errorContent(reports: readonly unknown[][]): ErrorContent {
  const thrown = reports.find((args) => args.length === 1);
  if (thrown) {
    const e = thrown[0];
    if (e instanceof Error) {
      const stack = cellTraceback(e);
      const excerpt = cellExcerpt(stack);
      return { ename: e.name, evalue: e.message, traceback: excerpt.length ? [...stack, '', ...excerpt] : stack };
    }
    return { ename: 'Uncaught', evalue: format('%O', e), traceback: [`Uncaught ${format('%O', e)}`] };
  }
  const lines = reports.map((args) => format(...args));
  if (lines.length === 0) return { ename: 'Error', evalue: 'the cell failed without a message', traceback: [] };
  // Compiler diagnostics, "line:column - message": the cell never ran.
  return { ename: 'TSError', evalue: lines[0], traceback: lines };
}

/**
 * The position of the name called by the innermost call whose parentheses hold `cursor` (`lab.trainRun(|` gives
 * the end of `trainRun`), or null when the cursor is in no call's arguments.
 */
export function enclosingCallee(code: string, cursor: number): number | null {
  const call = innermostCall(cellSource(code), cursor);
  return call ? calleeEnd(call) : null;
}

function cellSource(code: string): ts.SourceFile {
  return ts.createSourceFile('cell.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

/** `invalid` for code that no amount of further typing completes: a syntax error before its end. */
export function isInvalid(code: string): boolean {
  // As a module, like tslab compiles cells, so a top-level `await` parses.
  const out = ts.transpileModule(`export {};\n${code}`, { fileName: 'cell.ts', reportDiagnostics: true, compilerOptions: { target: ts.ScriptTarget.ES2022 } });
  return (out.diagnostics ?? []).length > 0;
}

function streamWriter(out: CellOutputs, name: 'stdout' | 'stderr'): typeof process.stdout.write {
  // One decoder per stream, in streaming mode, so a UTF-8 character split across two writes survives.
  const decoder = new TextDecoder();
  return ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    out.stream(name, typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    const done = rest.find((r): r is () => void => typeof r === 'function');
    if (done) done();
    return true;
  }) as typeof process.stdout.write;
}

type Outcome = { readonly error: ErrorContent } | { readonly result: DisplayContent | null };
/** One part of a cell ran: its error, or its value (NOTHING when it has none). */
type Step = { readonly error: ErrorContent } | { readonly value: unknown };

export class LabHandler extends JupyterHandlerImpl {
  readonly history = new History();
  private count = 0;
  /** Bumped by each failing cell; a request queued under an older generation is aborted when its turn comes. */
  private generation = 0;
  /**
   * When the last failing cell finished (ms since the epoch). A request the client sent before then was queued
   * behind the failure even if this process read it later: tslab compiles a cell synchronously, so a request sent
   * during the compile is only read once the failure is done (ipykernel flushes its socket for the same reason).
   */
  private failedAt = -Infinity;
  private queue: Promise<unknown> = Promise.resolve();
  private current: CellOutputs | null = null;
  /** The cell running now: the `cellId` its frontend sent, else its code (see `carry`). */
  private cellKey: string | null = null;
  /** Page-wide resource -> the cell whose output carries it. */
  private readonly holders = new Map<string, string>();

  constructor(
    private readonly cells: Executor,
    private readonly console: CellConsole,
    private readonly identity: KernelIdentity,
  ) {
    super(cells, false);
  }

  /** Where `display()` writes now: the outputs of the cell that ran last, or null before the first one. */
  outputArea(): OutputArea | null {
    return this.current;
  }

  /**
   * Whether the output made now should carry `resource` (plotly.js), so that a saved notebook holds it once: yes
   * when no cell holds it, or `force`. Re-running the holder replaces its outputs, so it frees the resource. Cells
   * are known by the `cellId` that JupyterLab and Notebook 7 send; Notebook 6 and nbclient 0.7 send none, and
   * then a cell is known by its code (an edited holder cell then loses the library until resetPlotlyEmbedding()).
   */
  carry(resource: string, force: boolean): boolean {
    if (!force && this.holders.has(resource)) return false;
    this.holders.set(resource, this.cellKey ?? '');
    return true;
  }

  override handleKernel(): ReturnType<JupyterHandlerImpl['handleKernel']> & { status: 'ok' } {
    const base = super.handleKernel();
    return {
      ...base,
      status: 'ok',
      implementation: 'transfusion',
      implementation_version: this.identity.version,
      // tslab reports a fixed TypeScript 3.7.2; the compiler that checks cells is this one.
      language_info: { ...base.language_info, version: ts.version },
      banner: this.identity.banner,
    };
  }

  override handleIsComplete(req: Parameters<JupyterHandlerImpl['handleIsComplete']>[0]): ReturnType<JupyterHandlerImpl['handleIsComplete']> {
    const code = maskMagics(req.code);
    const base = super.handleIsComplete({ ...req, code });
    return base.status === 'complete' && isInvalid(code) ? { status: 'invalid' } : base;
  }

  override handleInspect(req: Parameters<JupyterHandlerImpl['handleInspect']>[0]): ReturnType<JupyterHandlerImpl['handleInspect']> {
    const code = maskMagics(req.code);
    const call = innermostCall(cellSource(code), req.cursor_pos);
    // At an argument or options field still being written, the call is what to show (kernel/inspect-fields.ts).
    if (!call || !atCallSlot(call, req.cursor_pos)) {
      const base = super.handleInspect({ ...req, code });
      // Shift-Tab right after `(` is where the signature is wanted most, and there is no name under the cursor.
      if (base.found || !call) return base;
    }
    // The callee's signature and doc from tslab, then its options' fields through tslab's checker.
    const { inspected, fields } = inspectCall(() => super.handleInspect({ ...req, code, cursor_pos: calleeEnd(call) }), code, req.cursor_pos);
    if (!fields) return inspected;
    return { ...inspected, data: { ...inspected.data, 'text/plain': `${String(inspected.data['text/plain'])}\n\n${fields}` } };
  }

  override handleShutdown(req: Parameters<JupyterHandlerImpl['handleShutdown']>[0]): ReturnType<JupyterHandlerImpl['handleShutdown']> & { status: 'ok' } {
    return { status: 'ok', restart: req.restart };
  }

  /** Queue one execute request; cells run one at a time, in arrival order. `cellId` is the frontend's, if sent. */
  execute(request: ExecuteRequest, out: CellOutputs, sentAt = Infinity, cellId?: string): Promise<ExecuteReply> {
    const generation = sentAt < this.failedAt ? -1 : this.generation;
    const reply = this.queue.then(() => this.run(request, out, generation, cellId ?? `code:${request.code}`));
    // A reply that failed to send must not stall the requests queued behind it.
    this.queue = reply.catch(() => undefined);
    return reply;
  }

  private async run(request: ExecuteRequest, out: CellOutputs, generation: number, cellKey: string): Promise<ExecuteReply> {
    if (generation !== this.generation) return { status: 'aborted', execution_count: this.count };
    const silent = request.silent ?? false;
    if (!silent) out.input(request.code, ++this.count);
    const count = this.count;
    this.attach(out);
    this.cellKey = cellKey;
    for (const [resource, holder] of this.holders) if (holder === cellKey) this.holders.delete(resource);
    clearInterrupt();
    const outcome = await this.outcome(request.code, silent, out, `Cell In[${count}]`);
    // Node reports a promise the cell rejected and never awaited after the microtasks drain (kernel/guard.ts
    // writes it on stderr); one turn of the event loop puts that report among this cell's outputs, before its reply.
    await new Promise((resolve) => setImmediate(resolve));
    if (request.store_history ?? !silent) {
      const shown = 'result' in outcome && outcome.result ? String(outcome.result.data['text/plain']) : null;
      this.history.record(count, request.code, shown);
    }
    let error = 'error' in outcome ? outcome.error : null;
    if (!error && 'result' in outcome && outcome.result) {
      try {
        out.result(count, outcome.result);
      } catch (e) {
        // A bundle JSON cannot carry (a BigInt, a cycle) fails the cell rather than vanishing.
        error = errorContent([[e]]);
      }
    }
    if (error) {
      out.error(error);
      if (!silent && (request.stop_on_error ?? true)) {
        this.generation++;
        this.failedAt = Date.now();
      }
      return { status: 'error', execution_count: count, ...error };
    }
    return { status: 'ok', execution_count: count, user_expressions: {}, payload: [] };
  }

  private async outcome(code: string, silent: boolean, out: CellOutputs, label: string): Promise<Outcome> {
    let value: unknown = NOTHING;
    try {
      for (const part of splitMagics(code) ?? [{ kind: 'code', code } as const]) {
        const step = await this.part(part, code, label, out);
        if ('error' in step) return step;
        value = step.value;
        if (interruptRequested()) return { error: INTERRUPTED };
      }
    } catch (e) {
      this.console.take();
      return { error: errorContent([[e]]) };
    }
    return { result: value === NOTHING || silent || alreadyShown(value) ? null : resultOf(value) };
  }

  private async part(part: Part, cell: string, label: string, out: CellOutputs): Promise<Step> {
    if (part.kind === 'code') return this.runCode(part.code, cell, label, out);
    if (part.kind === 'cell-magic') {
      if (part.name !== 'time') throw unsupported(part.name, true);
      return this.timed(part.code, cell, label, out);
    }
    if (part.name === 'time') return this.timed(magicCode(part), cell, label, out);
    if (part.name === 'timeit') {
      const step = await this.runCode(magicCode(part, timeitWrapper), cell, label, out);
      if ('error' in step) return step;
      out.stream('stdout', await timeit(step.value as () => unknown, interruptRequested));
      return { value: NOTHING };
    }
    const shown = simpleMagic(part.name, part.args, () => Object.keys(this.cells.locals));
    if (shown.text) out.stream('stdout', shown.text);
    return { value: 'value' in shown ? shown.value : NOTHING };
  }

  /** Run code (padded to its lines in the cell) through tslab: its value, or what failed. */
  private async runCode(code: string, cell: string, label: string, out: CellOutputs, onRun?: () => void): Promise<Step> {
    const expanded = expandedCell(code);
    expectCell({ label, typed: cell, insertions: expanded.insertions, onRun });
    const ok = await this.cells.execute(expanded.code);
    const { value, errors } = this.console.take();
    if (!ok) return { error: errorContent(errors.map((args) => diagnosticAsTyped(args, expanded))) };
    // A `//%module` cell reports its diagnostics but still succeeds (tslab registers the module anyway).
    for (const args of errors) out.stream('stderr', `${format(...args)}\n`);
    return { value };
  }

  /** `%time` and `%%time`: the clock starts once the code is compiled, as IPython leaves compiling out. */
  private async timed(code: string, cell: string, label: string, out: CellOutputs): Promise<Step> {
    let stop: (() => string) | undefined;
    const step = await this.runCode(code, cell, label, out, () => (stop = startClock()));
    if (stop) out.stream('stdout', stop());
    return step;
  }

  /** Route the process's output to this cell until the next one starts, as ipykernel does for late output. */
  private attach(out: CellOutputs): void {
    this.current = out;
    process.stdout.write = streamWriter(out, 'stdout');
    process.stderr.write = streamWriter(out, 'stderr');
    // tslab's own `display` API (import { display } from 'tslab') writes through this variable.
    (tslabJupyter as { lastWriteDisplayData: OutputArea['display'] }).lastWriteDisplayData = out.display;
  }
}
