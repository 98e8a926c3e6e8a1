import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KERNEL_HOOK, type KernelDisplayOptions } from '../../src/viz/display';
import type { MimeBundle } from '../../src/viz/mime';
import { Progress, formatDuration, progressCallback } from '../../src/viz/progress';

type Sent = { bundle: MimeBundle; opts?: KernelDisplayOptions };

function fakeKernel(): { sent: Sent[]; remove(): void } {
  const sent: Sent[] = [];
  const g = globalThis as Record<symbol, unknown>;
  g[KERNEL_HOOK] = { display: (bundle: MimeBundle, opts?: KernelDisplayOptions) => sent.push({ bundle, opts }) };
  return { sent, remove: () => delete g[KERNEL_HOOK] };
}

/** A clock the test moves by hand, in ms. */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const text = (s: Sent) => s.bundle.data['text/plain'] as string;

test('in a kernel: one display, throttled in-place updates, and the summary as the final update', () => {
  const kernel = fakeKernel();
  try {
    const clock = manualClock();
    const step = progressCallback(10, { title: 'demo <run>', minIntervalMs: 250 }, clock.now);
    for (let i = 1; i <= 10; i++) {
      clock.advance(100);
      step({ step: i, losses: { loss: 1 / i }, lr: 3e-4 });
    }
    const { sent } = kernel;
    // Steps arrive every 100 ms; at most one refresh per 250 ms gets through: steps 1, 4, 7, 10.
    assert.equal(sent.length, 1 + 4 + 1);
    assert.equal(sent[0].opts?.update, undefined);
    const id = sent[0].opts?.displayId;
    assert.ok(id?.startsWith('progress-'));
    assert.ok(sent.slice(1).every((s) => s.opts?.displayId === id && s.opts?.update === true));
    assert.equal(text(sent[0]), 'demo <run>: 0/10 | starting');
    assert.deepEqual(sent.slice(1, 5).map((s) => text(s).split(' | ')[0]), ['demo <run>: 1/10 (10%)', 'demo <run>: 4/10 (40%)', 'demo <run>: 7/10 (70%)', 'demo <run>: 10/10 (100%)']);
    // 3 steps in 0.3 s since the first update: 10 steps/s, 6 steps left: 0.6 s.
    assert.equal(text(sent[2]), 'demo <run>: 4/10 (40%) | loss 0.2500 | lr 3.00e-4 | 10.0 steps/s | ETA 0:01');
    const last = sent[sent.length - 1];
    assert.equal(text(last), 'demo <run>: done 10/10 steps in 0:01 | 10.0 steps/s | loss 0.1000 (min 0.1000 at 10)');
    const html = last.bundle.data['text/html'] as string;
    assert.match(html, /<b>demo &lt;run&gt;<\/b>/);
    assert.match(html, /width:100\.0%;height:100%;background:#2ca02c/);
    assert.match(html, /done 10\/10 steps in 0:01 &middot; 10\.0 steps\/s &middot; loss 0\.1000 \(min 0\.1000 at 10\)/);
  } finally {
    kernel.remove();
  }
});

test('finish is idempotent, later steps are recorded but not shown, and history feeds lossCurves', () => {
  const kernel = fakeKernel();
  try {
    const clock = manualClock();
    const progress = new Progress(4, { minIntervalMs: 0 }, clock.now);
    for (const [i, loss] of [3, 1, 2].entries()) {
      clock.advance(500);
      progress.update({ step: i + 1, losses: { loss, lm: loss / 2 }, stepsPerSec: 2, info: { gradNorm: 0.5 } });
    }
    assert.match(text(kernel.sent[3]), /^training: 3\/4 \(75%\) \| loss 2\.000 \| lm 1\.000 \| gradNorm 0\.5000 \| 2\.00 steps\/s \| ETA 0:01$/);
    const summary = progress.finish();
    assert.equal(progress.finished, true);
    assert.deepEqual(summary.best, { loss: { value: 1, step: 2 }, lm: { value: 0.5, step: 2 } });
    assert.deepEqual(summary.final, { loss: 2, lm: 1 });
    assert.equal(summary.seconds, 1.5);
    const count = kernel.sent.length;
    assert.equal(progress.finish(), summary);
    progress.update({ step: 4, losses: { loss: 0.5 } });
    assert.equal(kernel.sent.length, count);
    assert.match(text(kernel.sent[count - 1]), /^training: stopped at 3\/4 steps in 0:02 \| 2\.00 steps\/s \| loss 2\.000 \(min 1\.000 at 2\)/);
    assert.match(kernel.sent[count - 1].bundle.data['text/html'] as string, /width:75\.0%;height:100%;background:#ff7f0e/);
    assert.deepEqual(progress.history.map((r) => r.step), [1, 2, 3, 4]);
    assert.deepEqual(progress.history[1], { step: 2, loss: 1, lm: 0.5 });
  } finally {
    kernel.remove();
  }
});

test('outside a kernel: a text line every plainIntervalMs, then the summary', () => {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (chunks.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    const clock = manualClock();
    const progress = new Progress(10, { plainIntervalMs: 300 }, clock.now);
    for (let i = 1; i <= 9; i++) {
      clock.advance(100);
      progress.update({ step: i, losses: { loss: i } });
    }
    progress.finish();
  } finally {
    process.stdout.write = write;
  }
  const lines = chunks.join('').trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' | ')[0]), ['training: 3/10 (30%)', 'training: 6/10 (60%)', 'training: 9/10 (90%)', 'training: stopped at 9/10 steps in 0:01']);
});

test('formatDuration and argument checks', () => {
  assert.equal(formatDuration(75), '1:15');
  assert.equal(formatDuration(4000), '1:06:40');
  assert.equal(formatDuration(Infinity), '?');
  assert.throws(() => new Progress(0), /Progress\.totalSteps: got 0/);
  assert.throws(() => new Progress(5, { minInterval: 3 } as never), /Progress\.minInterval/);
});
