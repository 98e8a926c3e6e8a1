/**
 * The kernel's ZeroMQ server: tslab's ZmqServer binds the five sockets from the connection file, echoes
 * heartbeats and feeds shell and control messages to `handleShellMessage`; this subclass replaces that one
 * method, so every request gets the reply type and fields the protocol requires:
 * - `comm_info_request` gets a `comm_info_reply` (tslab answers with a `complete_reply`);
 * - `history_request` (ignored by tslab) gets the kernel's history;
 * - `execute_request` publishes `execute_input`, then the cell's streams, displays with full bundles,
 *   metadata and display ids, `clear_output`, its `execute_result` or `error`, then the reply;
 * - `interrupt_request` (interrupt_mode 'message') interrupts like SIGINT does;
 * - a request whose handler throws gets an error reply instead of silence.
 */
import type * as zmq from 'zeromq';
import { ZmqServer } from 'tslab/dist/jupyter';
import { exitKernel } from './guard';
import { CellOutputs, errorContent, LabHandler } from './handler';
import { ExecuteRequest, HistoryRequest } from './protocol';
import { MessageFactory, WireMessage } from './wire';

const SHUTDOWN_FLUSH_MS = 300;

type Request<M extends keyof LabHandler> = LabHandler[M] extends (req: infer R, ...rest: never[]) => unknown ? R : never;

/** A request's content in its protocol shape: the sender is authenticated by the connection key, so trusted. */
function body<T>(msg: WireMessage): T {
  return msg.content as unknown as T;
}

/** The notebook cell a request runs, where the frontend says so (JupyterLab and Notebook 7 put it in metadata). */
function cellId(msg: WireMessage): string | undefined {
  const id = (msg.metadata as { cellId?: unknown }).cellId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export class LabServer extends ZmqServer {
  private readonly messages = new MessageFactory();

  constructor(
    private readonly lab: LabHandler,
    configPath: string,
    /** What an `interrupt_request` does: the same as the kernel's SIGINT handler. */
    private readonly onInterrupt: () => void,
    /** The kernel's own log (Jupyter's server log), not a cell's output. */
    private readonly log: (line: string) => void,
  ) {
    super(lab, configPath);
  }

  override async handleShellMessage(sock: zmq.Router, ...frames: Buffer[]): Promise<void> {
    let msg: WireMessage;
    try {
      msg = WireMessage.parse(frames, this.connInfo.key);
    } catch (e) {
      this.log(`transfusion kernel: dropped a message: ${(e as Error).message}`);
      return;
    }
    this.publish(msg, 'status', { execution_state: 'busy' });
    let shutdown = false;
    try {
      shutdown = await this.dispatch(sock, msg);
    } catch (e) {
      this.log(`transfusion kernel: ${msg.type} failed: ${(e as Error).stack ?? String(e)}`);
      await this.reply(sock, msg, msg.type.replace(/_request$/, '_reply'), { status: 'error', ...errorContent([[e]]) });
    } finally {
      this.publish(msg, 'status', { execution_state: 'idle' });
    }
    if (shutdown) {
      this.close();
      // A cell may have left timers or servers running, and a kernel told to shut down must not linger; the
      // delay lets ZeroMQ's I/O thread put the replies on the wire first.
      setTimeout(() => exitKernel(0), SHUTDOWN_FLUSH_MS).unref();
    }
  }

  /** Answer one request; true when it was a shutdown. */
  private async dispatch(sock: zmq.Router, msg: WireMessage): Promise<boolean> {
    const lab = this.lab;
    switch (msg.type) {
      case 'kernel_info_request':
        await this.reply(sock, msg, 'kernel_info_reply', lab.handleKernel());
        return false;
      case 'execute_request':
        await this.reply(sock, msg, 'execute_reply', await lab.execute(body<ExecuteRequest>(msg), this.outputs(msg), Date.parse(msg.header.date), cellId(msg)));
        return false;
      case 'is_complete_request':
        await this.reply(sock, msg, 'is_complete_reply', lab.handleIsComplete(body<Request<'handleIsComplete'>>(msg)));
        return false;
      case 'inspect_request':
        await this.reply(sock, msg, 'inspect_reply', lab.handleInspect(body<Request<'handleInspect'>>(msg)));
        return false;
      case 'complete_request':
        await this.reply(sock, msg, 'complete_reply', lab.handleComplete(body<Request<'handleComplete'>>(msg)));
        return false;
      case 'history_request':
        await this.reply(sock, msg, 'history_reply', { status: 'ok', history: lab.history.query(body<HistoryRequest>(msg)) });
        return false;
      case 'comm_info_request':
        // The lab opens no comms (widgets); the reply says so in the protocol's own terms.
        await this.reply(sock, msg, 'comm_info_reply', { status: 'ok', comms: {} });
        return false;
      case 'interrupt_request':
        this.onInterrupt();
        await this.reply(sock, msg, 'interrupt_reply', { status: 'ok' });
        return false;
      case 'shutdown_request': {
        const content = lab.handleShutdown(body<Request<'handleShutdown'>>(msg));
        await this.reply(sock, msg, 'shutdown_reply', content);
        // Protocol 5.4 also broadcasts it, so every client learns the kernel is going away.
        this.publish(msg, 'shutdown_reply', content);
        return true;
      }
      default:
        this.log(`transfusion kernel: ignored unsupported message type ${msg.type}`);
        return false;
    }
  }

  /** The outputs of one execute request, each published with that request as parent. */
  private outputs(parent: WireMessage): CellOutputs {
    return {
      input: (code, executionCount) => this.publish(parent, 'execute_input', { code, execution_count: executionCount }),
      stream: (name, text) => this.publish(parent, 'stream', { name, text }),
      display: (content, update) => this.publish(parent, update ? 'update_display_data' : 'display_data', content),
      clear: (wait) => this.publish(parent, 'clear_output', { wait }),
      result: (executionCount, content) => this.publish(parent, 'execute_result', { execution_count: executionCount, ...content }),
      error: (content) => this.publish(parent, 'error', content),
    };
  }

  private reply(sock: zmq.Router, parent: WireMessage, msgType: string, content: object): Promise<void> {
    let sender = this.senders.get(sock);
    if (!sender) this.senders.set(sock, (sender = new OrderedSender(sock, this.log)));
    return sender.push({ frames: () => this.messages.make(parent, msgType, content as Record<string, unknown>).encode(this.connInfo.key), msgType });
  }

  /**
   * IOPub messages carry their type as the topic, as ipykernel's do, so a client can subscribe by type. A stream
   * text published while an earlier text of the same stream and cell still waits in the queue is appended to it.
   */
  private publish(parent: WireMessage, msgType: string, content: object): void {
    const body = { ...(content as Record<string, unknown>) };
    const frames = (): Buffer[] => this.messages.make(parent, msgType, body, [Buffer.from(msgType)]).encode(this.connInfo.key);
    this.iopubSender ??= new OrderedSender(this.iopub, this.log);
    void this.iopubSender.push({ frames, msgType, stream: msgType === 'stream' ? { parent, body } : undefined });
  }

  private readonly senders = new Map<zmq.Router, OrderedSender>();
  private iopubSender: OrderedSender | undefined;
}

interface Outgoing {
  /** Encoded when sent, so a waiting stream text can still grow. */
  readonly frames: () => Buffer[];
  readonly msgType: string;
  /** For a stream message: its parent and content, whose text a later message of the same stream may extend. */
  readonly stream?: { readonly parent: WireMessage; readonly body: Record<string, unknown> };
}

/**
 * Sends on one ZeroMQ socket in order, and never loses a message to EBUSY. zeromq.js allows one send in flight per
 * socket: it sends at once until 512 sends in a row were synchronous, then defers one to let the event loop
 * breathe, and a send made while that one waits throws EBUSY ("Socket is busy writing"). A cell printing in a tight
 * loop hit that: 1,500 lines printed, 510 delivered, the rest dropped without a word. So a message goes out at once
 * when nothing waits (a cell's output must leave while the cell still runs synchronous code, so an interrupt can be
 * timed by it), and otherwise waits its turn in a queue, where consecutive texts of one stream are merged.
 */
class OrderedSender {
  private readonly queue: { item: Outgoing; done: () => void }[] = [];
  private last: Promise<void> = Promise.resolve();

  constructor(
    private readonly sock: zmq.Writable,
    private readonly log: (line: string) => void,
  ) {}

  /** Resolves when the message is handed to ZeroMQ. */
  push(item: Outgoing): Promise<void> {
    if (this.queue.length === 0 && this.trySend(item)) return this.last;
    const tail = this.queue[this.queue.length - 1]?.item.stream;
    if (tail && item.stream && tail.parent === item.stream.parent && tail.body.name === item.stream.body.name) {
      tail.body.text = String(tail.body.text) + String(item.stream.body.text);
      return this.last;
    }
    return new Promise((done) => {
      this.queue.push({ item, done });
      if (this.queue.length === 1) void this.drain();
    });
  }

  /** False when the socket is busy with a deferred send (EBUSY); any other failure is logged, not retried. */
  private trySend(item: Outgoing): boolean {
    try {
      this.last = this.sock.send(item.frames()).catch((e: Error) => this.log(`transfusion kernel: could not send ${item.msgType}: ${e.message}`));
      return true;
    } catch (e) {
      if ((e as { code?: unknown }).code === 'EBUSY') return false;
      this.log(`transfusion kernel: could not send ${item.msgType}: ${(e as Error).message}`);
      return true;
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      await this.last;
      const head = this.queue[0];
      if (this.trySend(head.item)) {
        this.queue.shift();
        head.done();
      } else {
        // Busy although the send we know of has finished: give ZeroMQ's deferred write a turn of the loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
}
