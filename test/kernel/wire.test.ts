/**
 * The wire format: a message signed by jupyter_client's Session (fixtures/wire.json, made by
 * fixtures/wire.py) parses; what the kernel encodes parses back; anything unsigned, tampered or malformed
 * is refused with a WireError.
 */
import { readFixture } from '../helpers/fixtures';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageFactory, WireError, WireMessage } from '../../kernel/wire';

const FIXTURE = readFixture<{ key: string; msg_id: string; frames: string[] }>(__dirname, 'wire.json');
const frames = (): Buffer[] => FIXTURE.frames.map((f) => Buffer.from(f, 'base64'));

test("a message signed by jupyter_client's Session parses, identities and all", () => {
  const msg = WireMessage.parse(frames(), FIXTURE.key);
  assert.equal(msg.type, 'execute_request');
  assert.equal(msg.header.msg_id, FIXTURE.msg_id);
  assert.equal(msg.header.session, 'client-session');
  assert.deepEqual(msg.content, { code: '6 * 7', silent: false, store_history: true });
  assert.deepEqual(msg.identities.map(String), ['routing-id']);
  assert.deepEqual(msg.parent, {});
});

test('a wrong key, a changed frame, a missing delimiter or a short message is refused', () => {
  assert.throws(() => WireMessage.parse(frames(), 'other-key'), WireError);
  const tampered = frames();
  tampered[6] = Buffer.from('{"code": "rm -rf /"}');
  assert.throws(() => WireMessage.parse(tampered, FIXTURE.key), /signature does not match/);
  assert.throws(() => WireMessage.parse(frames().filter((_, i) => i !== 1), FIXTURE.key), /no <IDS\|MSG> delimiter/);
  assert.throws(() => WireMessage.parse(frames().slice(0, 5), FIXTURE.key), /expected at least 5/);
});

test('replies carry the kernel session, the parent header and fresh ids, and parse back under the key', () => {
  const request = WireMessage.parse(frames(), FIXTURE.key);
  const factory = new MessageFactory();
  const reply = factory.make(request, 'execute_reply', { status: 'ok', execution_count: 1 });
  const again = factory.make(request, 'execute_reply', {});
  assert.notEqual(reply.header.msg_id, again.header.msg_id);
  assert.equal(reply.header.session, factory.session);
  assert.notEqual(factory.session, request.header.session, 'the kernel has its own session id');
  assert.equal(reply.header.version, '5.3');
  const parsed = WireMessage.parse(reply.encode(FIXTURE.key), FIXTURE.key);
  assert.deepEqual(parsed.parent, request.header);
  assert.deepEqual(parsed.content, { status: 'ok', execution_count: 1 });
  assert.deepEqual(parsed.identities.map(String), ['routing-id'], 'a reply is routed back to the requester');
  const published = factory.make(request, 'stream', { name: 'stdout', text: 'x' }, [Buffer.from('stream')]);
  assert.deepEqual(WireMessage.parse(published.encode(FIXTURE.key), FIXTURE.key).identities.map(String), ['stream']);
});

test('an empty key turns signing off, as the connection file asks', () => {
  const request = WireMessage.parse(frames(), FIXTURE.key);
  const encoded = new MessageFactory().make(request, 'status', { execution_state: 'idle' }).encode('');
  assert.equal(encoded[2].toString(), '', 'the signature frame is empty');
  assert.equal(WireMessage.parse(encoded, '').type, 'status');
  assert.throws(() => WireMessage.parse(encoded, FIXTURE.key), WireError);
});
