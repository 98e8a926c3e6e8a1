/**
 * A kernel process and a client of it over ZeroMQ, for tests that must see what a notebook sees: replies,
 * IOPub outputs, and whether the process is still alive. jupyter_client would hide the moments these tests
 * are about (it waits for the kernel before sending, and a dead kernel surfaces as a timeout), so the client
 * speaks the wire format itself (kernel/wire.ts), from the instant the process is spawned.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { Header, PROTOCOL_VERSION } from '../../kernel/protocol';
import { WireMessage } from '../../kernel/wire';
import { LAUNCHER } from './harness';

const CHANNELS = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;

/** Five ports nobody listens on now (the kernel binds them a moment later). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface Executed {
  readonly reply: WireMessage;
  /** The IOPub messages with this request as parent, up to its `idle` status. */
  readonly outputs: WireMessage[];
}

export class KernelClient {
  /** Everything the process wrote on stderr (the kernel's own log; cells' stderr goes to IOPub). */
  stderr = '';
  /** Settles when the process ends, with how it ended. */
  readonly exited: Promise<string>;
  private readonly session = randomBytes(16).toString('hex');
  private readonly replies = new Map<string, (msg: WireMessage) => void>();
  private readonly iopubByParent = new Map<string, WireMessage[]>();
  private readonly iopubWaiters = new Set<() => void>();
  private exitedAs: string | null = null;
  private iopubLive = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly key: string,
    private readonly dir: string,
    private readonly shell: zmq.Dealer,
    private readonly control: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
  ) {
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitedAs = signal ? `signal ${signal}` : `exit code ${code}`;
        for (const wake of this.iopubWaiters) wake();
        resolve(this.exitedAs);
      }),
    );
    void this.pump(shell, (msg) => this.replies.get(msg.parent.msg_id ?? '')?.(msg));
    void this.pump(control, (msg) => this.replies.get(msg.parent.msg_id ?? '')?.(msg));
    void this.pump(iopub, (msg) => {
      const parent = msg.parent.msg_id ?? '';
      this.iopubByParent.set(parent, [...(this.iopubByParent.get(parent) ?? []), msg]);
      for (const wake of this.iopubWaiters) wake();
    });
  }

  /**
   * Spawn the kernel (the launcher the other kernel tests run) and connect at once, so requests can be sent
   * before it has finished starting.
   */
  static async start(env: NodeJS.ProcessEnv = {}): Promise<KernelClient> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'transfusion-kernel-'));
    const ports = await freePorts(CHANNELS.length);
    const key = randomBytes(16).toString('hex');
    const connection: Record<string, unknown> = { transport: 'tcp', ip: '127.0.0.1', key, signature_scheme: 'hmac-sha256', kernel_name: 'transfusion' };
    CHANNELS.forEach((name, i) => (connection[`${name}_port`] = ports[i]));
    const file = path.join(dir, 'kernel.json');
    fs.writeFileSync(file, JSON.stringify(connection));
    const child = spawn(process.execPath, [LAUNCHER, file], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const address = (name: (typeof CHANNELS)[number]): string => `tcp://127.0.0.1:${connection[`${name}_port`]}`;
    const shell = new zmq.Dealer();
    const control = new zmq.Dealer();
    const iopub = new zmq.Subscriber();
    // ZeroMQ keeps retrying a connect until the kernel binds, and queues what is sent meanwhile.
    shell.connect(address('shell'));
    control.connect(address('control'));
    iopub.connect(address('iopub'));
    iopub.subscribe();
    return new KernelClient(child, key, dir, shell, control, iopub);
  }

  /** Send a request now; resolves with its reply, rejects when the kernel exits first or takes over `timeoutMs`. */
  async request(type: string, content: Record<string, unknown>, options: { channel?: 'shell' | 'control'; timeoutMs?: number; metadata?: Record<string, unknown> } = {}): Promise<WireMessage> {
    const header: Header = { msg_id: randomBytes(16).toString('hex'), msg_type: type, session: this.session, username: 'test', date: new Date().toISOString(), version: PROTOCOL_VERSION };
    const reply = new Promise<WireMessage>((resolve) => this.replies.set(header.msg_id, resolve));
    await (options.channel === 'control' ? this.control : this.shell).send(new WireMessage([], header, {}, options.metadata ?? {}, content).encode(this.key));
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        reply,
        this.exited.then((how) => Promise.reject(new Error(`the kernel ended (${how}) without replying to ${type}; its stderr:\n${this.stderr}`))),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${type} reply in ${timeoutMs} ms; kernel stderr:\n${this.stderr}`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
      this.replies.delete(header.msg_id);
    }
  }

  /**
   * Resolves once IOPub delivers: a subscriber that connected before the kernel bound its socket receives nothing
   * until its subscription has reached the kernel (ZeroMQ's "slow joiner"), and the replies on the shell socket
   * do not wait for that. So, like jupyter_client's wait_for_ready, ask for kernel_info until its status comes
   * back on IOPub; a test that reads outputs calls this first.
   */
  async ready(timeoutMs = 60_000): Promise<void> {
    if (this.iopubLive) return;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = await this.request('kernel_info_request', {}, { timeoutMs: Math.max(1, deadline - Date.now()) });
      const id = reply.parent.msg_id ?? '';
      try {
        await this.iopubUntil(id, (msgs) => msgs.some((m) => m.type === 'status' && m.content.execution_state === 'idle'), Math.min(1_000, Math.max(1, deadline - Date.now())));
        this.iopubLive = true;
        return;
      } catch (e) {
        if (!this.alive || Date.now() >= deadline) throw new Error(`IOPub delivered nothing in ${timeoutMs} ms: ${(e as Error).message}`);
      }
    }
  }

  /** Run a cell; the reply and the cell's IOPub messages up to its `idle` status. `cellId` as JupyterLab sends it. */
  async execute(code: string, timeoutMs?: number, cellId?: string): Promise<Executed> {
    const metadata = cellId === undefined ? {} : { cellId };
    const reply = await this.request('execute_request', { code, silent: false, store_history: true, stop_on_error: true }, { timeoutMs, metadata });
    const id = reply.parent.msg_id ?? '';
    const outputs = await this.iopubUntil(id, (msgs) => msgs.some((m) => m.type === 'status' && m.content.execution_state === 'idle'));
    return { reply, outputs };
  }

  /** The IOPub messages with parent `msgId` once `done` holds for them (rejects after `timeoutMs`). */
  iopubUntil(msgId: string, done: (msgs: readonly WireMessage[]) => boolean, timeoutMs = 10_000): Promise<WireMessage[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const msgs = this.iopubByParent.get(msgId) ?? [];
        if (!done(msgs) && this.exitedAs === null) return;
        finish();
        if (done(msgs)) resolve(msgs);
        else reject(new Error(`the kernel ended (${this.exitedAs}) before the expected output; its stderr:\n${this.stderr}`));
      };
      const timer = setTimeout(() => {
        finish();
        const got = JSON.stringify((this.iopubByParent.get(msgId) ?? []).map((m) => [m.type, m.content]));
        reject(new Error(`the expected output did not come in ${timeoutMs} ms; got ${got}; IOPub messages so far: ${this.iopubCount()}; kernel stderr:\n${this.stderr}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.iopubWaiters.delete(check);
      };
      this.iopubWaiters.add(check);
      check();
    });
  }

  private iopubCount(): number {
    let n = 0;
    for (const msgs of this.iopubByParent.values()) n += msgs.length;
    return n;
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.exitedAs === null;
  }

  /** Kill the process if it still runs, close the sockets, remove the connection folder. */
  async close(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
    for (const sock of [this.shell, this.control, this.iopub]) sock.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async pump(sock: zmq.Dealer | zmq.Subscriber, deliver: (msg: WireMessage) => void): Promise<void> {
    try {
      for await (const frames of sock) {
        try {
          deliver(WireMessage.parse(frames, this.key));
        } catch {
          // A frame set that does not parse is the kernel's bug for another test to find; here it is no reply.
        }
      }
    } catch {
      // The socket was closed by close().
    }
  }
}

/** The text of every `stream` output named `name`, joined. */
export function streamText(outputs: readonly WireMessage[], name: 'stdout' | 'stderr'): string {
  return outputs.filter((m) => m.type === 'stream' && m.content.name === name).map((m) => String(m.content.text)).join('');
}
