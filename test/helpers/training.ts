import assert from 'node:assert/strict';

/**
 * Asserts that a short training run made progress: the mean of the last `window` losses is below `factor` times
 * the mean of the first `window`. Means, so that one noisy step neither passes nor fails the check alone.
 */
export function assertLossFalls(losses: readonly number[], factor: number, window = 3): void {
  assert.ok(losses.length >= 2 * window, `need at least ${2 * window} losses, got ${losses.length}`);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(losses.slice(0, window));
  const last = mean(losses.slice(-window));
  assert.ok(last < factor * first, `loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
}
