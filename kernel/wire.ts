/**
 * Jupyter's wire format: one message is the ZeroMQ frames
 *   [routing identities..., '<IDS|MSG>', signature, header, parent_header, metadata, content, buffers...]
 * where the signature is HMAC-SHA256 (keyed by the connection file's `key`) over the four JSON frames and
 * the buffers. Reference: https://jupyter-client.readthedocs.io/en/latest/messaging.html#the-wire-protocol
 *
 * tslab's own message class is private to its server module, so the kernel reads and writes frames here.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Header, PROTOCOL_VERSION } from './protocol';

const DELIMITER = Buffer.from('<IDS|MSG>');

/** A message that cannot be trusted or parsed; the server logs it and drops it. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

function sign(key: string, parts: readonly (string | Buffer)[]): string {
  // An empty key means the connection file turned authentication off: the signature frame is empty.
  if (key === '') return '';
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(part);
  return hmac.digest('hex');
}

export class WireMessage {
  constructor(
    /** ZeroMQ routing prefix: the ROUTER peer for shell/control replies, the topic on IOPub. */
    readonly identities: readonly Buffer[],
    readonly header: Header,
    /** The header of the request this message answers; `{}` when it answers none. */
    readonly parent: Header | Record<string, never>,
    readonly metadata: Readonly<Record<string, unknown>>,
    readonly content: Readonly<Record<string, unknown>>,
    readonly buffers: readonly Buffer[] = [],
  ) {}

  get type(): string {
    return this.header.msg_type;
  }

  /** Parse and authenticate received frames; throws WireError naming what is wrong. */
  static parse(frames: readonly Buffer[], key: string): WireMessage {
    const at = frames.findIndex((f) => f.equals(DELIMITER));
    if (at < 0) throw new WireError('message has no <IDS|MSG> delimiter');
    if (frames.length < at + 6) throw new WireError(`message has ${frames.length - at - 1} frames after the delimiter, expected at least 5`);
    const signature = frames[at + 1].toString();
    const signed = frames.slice(at + 2);
    const expected = sign(key, signed);
    const a = Buffer.from(signature);
    const b = Buffer.from(expected);
    // Constant-time comparison: a timing side channel must not reveal how much of a forged signature is right.
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new WireError('message signature does not match the connection key');
    const json = (i: number): Record<string, unknown> => {
      try {
        return JSON.parse(signed[i].toString('utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new WireError(`message frame ${i} is not JSON: ${(e as Error).message}`);
      }
    };
    return new WireMessage(frames.slice(0, at), json(0) as unknown as Header, json(1) as WireMessage['parent'], json(2), json(3), signed.slice(4));
  }

  /** The frames to send, signed with `key`. */
  encode(key: string): Buffer[] {
    const parts = [this.header, this.parent, this.metadata, this.content].map((p) => Buffer.from(JSON.stringify(p), 'utf8'));
    const body = [...parts, ...this.buffers];
    return [...this.identities, DELIMITER, Buffer.from(sign(key, body)), ...body];
  }
}

/** Writes the messages of one kernel process: one session id, fresh message ids, parent headers filled in. */
export class MessageFactory {
  /** The kernel's session id: the protocol asks for one per process, distinct from the client's. */
  readonly session = randomBytes(16).toString('hex');

  /** A message answering (or published on behalf of) `parent`. */
  make(
    parent: WireMessage,
    msgType: string,
    content: Readonly<Record<string, unknown>>,
    identities: readonly Buffer[] = parent.identities,
  ): WireMessage {
    const header: Header = {
      msg_id: randomBytes(16).toString('hex'),
      msg_type: msgType,
      session: this.session,
      username: 'kernel',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    };
    return new WireMessage(identities, header, parent.header, {}, content);
  }
}
