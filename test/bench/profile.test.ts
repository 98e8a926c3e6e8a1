/**
 * `npm run bench:profile` (bench/profile.ts) runs end to end: one line per kernel with its time, calls and share,
 * then the summary line. With the fused kernels on, the fused attention is among the kernels and the step calls
 * far fewer kernels than with them off (a count, not a speed: nothing here is timed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { registerNativeCpu } from '../../src/engine/nativecpu';

function script(): string[] {
  if (__filename.endsWith('.ts')) return ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', '..', 'bench', 'profile.ts')];
  return [path.join(__dirname, '..', '..', 'bench', 'profile.js')];
}

function profile(fused: '0' | '1'): { kernels: { kernel: string; ms: number; calls: number; share: number }[]; summary: Record<string, number> } {
  const r = spawnSync(process.execPath, [...script(), '--steps', '1', '--warmup', '1', '--top', '0'], {
    encoding: 'utf8', env: { ...process.env, TRANSFUSION_FUSED: fused, TRANSFUSION_THREADS: '1' }, timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { kernels: lines.slice(0, -1) as never, summary: lines[lines.length - 1] as never };
}

const skip = registerNativeCpu().ok ? false : 'nativecpu is not built';

test('bench:profile: per-kernel lines and a summary; the fused kernels cut the calls of a step', { skip }, () => {
  const on = profile('1');
  const off = profile('0');
  for (const run of [on, off]) {
    assert.ok(run.kernels.length > 5);
    for (const k of run.kernels) assert.ok(k.ms >= 0 && k.calls >= 1 && k.share >= 0 && k.share <= 1, JSON.stringify(k));
    assert.ok(run.summary.step_ms > 0 && run.summary.kernel_calls > 0 && run.summary.threads === 1, JSON.stringify(run.summary));
  }
  assert.ok(on.kernels.some((k) => k.kernel === 'NativecpuAttention'));
  assert.ok(!off.kernels.some((k) => k.kernel.startsWith('Nativecpu')));
  assert.ok(on.summary.kernel_calls < off.summary.kernel_calls / 2, `${on.summary.kernel_calls} calls fused, ${off.summary.kernel_calls} not`);
});
