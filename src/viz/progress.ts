/**
 * Live training progress: one HTML line (title, bar, step/total, each loss, lr, steps/s, ETA) updated in
 * place while a cell runs, and a summary line when training ends.
 *
 * In the kernel the line is one display (a display id) refreshed with update_display_data at most every
 * `minIntervalMs`, so a fast loop does not flood the frontend. The summary is sent as the last update, so a
 * notebook executed headless (nbconvert, papermill) keeps the summary, not whichever update happened to be
 * the last one throttled through. Outside a kernel a text line is printed every `plainIntervalMs`, then the
 * summary.
 */
import { check, mergeConfig } from '../config';
import { display, inKernel, newDisplayId, type DisplayHandle } from './display';
import type { HistoryRow } from './loss-curves';
import type { HasMimeBundle, MimeBundle } from './mime';
import { escapeHtml } from './html';

export interface ProgressOptions {
  /** Shown first on the line. Default 'training'. */
  readonly title: string;
  /** Least time between two refreshes of the live line, in ms. Default 250 (at most 4 per second). */
  readonly minIntervalMs: number;
  /** Outside a kernel: least time between two printed lines, in ms; 0 prints only the summary. Default 10000. */
  readonly plainIntervalMs: number;
  /** Significant digits of losses. Default 4. */
  readonly digits: number;
}

export const DEFAULT_PROGRESS: ProgressOptions = { title: 'training', minIntervalMs: 250, plainIntervalMs: 10_000, digits: 4 };

/** What a trainer reports after an optimiser step. */
export interface ProgressUpdate {
  /** Optimiser steps completed so far, 1..totalSteps. */
  readonly step: number;
  /** Named losses of this step, e.g. `{ loss, lm, diffusion }`. */
  readonly losses: Readonly<Record<string, number>>;
  /** Throughput if the trainer measures it; otherwise measured here from the update times. */
  readonly stepsPerSec?: number;
  /** Learning rate of this step (warmup and decay are worth seeing). */
  readonly lr?: number;
  /** Further named values for the line (grad norm, tokens/s, ...). */
  readonly info?: Readonly<Record<string, number | string>>;
}

/** Milliseconds from some fixed origin; `performance.now` by default, a fake clock in tests. */
export type Clock = () => number;

/** How a run ended, as the final line reports it. */
export interface ProgressSummary {
  readonly title: string;
  readonly step: number;
  readonly totalSteps: number;
  readonly seconds: number;
  readonly stepsPerSec: number | undefined;
  /** The last reported value of each loss. */
  readonly final: Readonly<Record<string, number>>;
  /** The lowest value of each loss and the step it was reached at. */
  readonly best: Readonly<Record<string, { readonly value: number; readonly step: number }>>;
}

export class Progress implements HasMimeBundle {
  /** Every reported step (not only the ones displayed): `lossCurves(progress.history)` plots the run. */
  readonly history: HistoryRow[] = [];
  readonly options: ProgressOptions;
  private readonly displayId = newDisplayId('progress');
  private readonly live = inKernel();
  private readonly started: number;
  private handle: DisplayHandle | undefined;
  private last: ProgressUpdate | undefined;
  private first: { step: number; time: number } | undefined;
  private rate: number | undefined;
  private lastSent = -Infinity;
  private lastPrinted: number;
  private readonly best = new Map<string, { value: number; step: number }>();
  private summary: ProgressSummary | undefined;

  constructor(readonly totalSteps: number, options?: Partial<ProgressOptions>, private readonly clock: Clock = () => performance.now()) {
    check.positiveInt('Progress.totalSteps', totalSteps);
    this.options = mergeConfig(DEFAULT_PROGRESS, options, 'Progress');
    check.nonNegative('Progress.minIntervalMs', this.options.minIntervalMs);
    check.nonNegative('Progress.plainIntervalMs', this.options.plainIntervalMs);
    check.positiveInt('Progress.digits', this.options.digits);
    this.started = clock();
    this.lastPrinted = this.started;
    if (this.live) this.handle = display(this, { displayId: this.displayId });
  }

  /** True once `finish()` ran (directly or through `callback` at the last step). */
  get finished(): boolean {
    return this.summary !== undefined;
  }

  /** Record a step; refresh the display if `minIntervalMs` passed. After `finish()` steps are only recorded. */
  update(u: ProgressUpdate): void {
    check.nonNegativeInt('Progress.update.step', u.step);
    const now = this.clock();
    this.history.push({ step: u.step, ...u.losses });
    if (this.summary) return;
    for (const [name, value] of Object.entries(u.losses)) {
      const best = this.best.get(name);
      if (Number.isFinite(value) && (!best || value < best.value)) this.best.set(name, { value, step: u.step });
    }
    this.first ??= { step: u.step, time: now };
    const measured = now > this.first.time ? ((u.step - this.first.step) * 1000) / (now - this.first.time) : undefined;
    this.rate = u.stepsPerSec ?? measured ?? this.rate;
    this.last = u;
    if (this.live) {
      if (now - this.lastSent < this.options.minIntervalMs) return;
      this.lastSent = now;
      this.handle?.update(this);
    } else if (this.options.plainIntervalMs > 0 && now - this.lastPrinted >= this.options.plainIntervalMs) {
      this.lastPrinted = now;
      display(this);
    }
  }

  /**
   * The same as `update`, then `finish()` once `step` reaches `totalSteps`: hand it to a trainer that
   * reports every step and never says it is done.
   */
  get callback(): (u: ProgressUpdate) => void {
    return (u) => {
      this.update(u);
      if (u.step >= this.totalSteps) this.finish();
    };
  }

  /** Send the summary as the final state of the line (printed outside a kernel). Idempotent. */
  finish(): ProgressSummary {
    if (this.summary) return this.summary;
    const step = this.last?.step ?? 0;
    const seconds = (this.clock() - this.started) / 1000;
    this.summary = {
      title: this.options.title,
      step,
      totalSteps: this.totalSteps,
      seconds,
      stepsPerSec: this.rate,
      final: { ...(this.last?.losses ?? {}) },
      best: Object.fromEntries(this.best),
    };
    if (this.handle) this.handle.update(this);
    else display(this);
    return this.summary;
  }

  private fraction(): number {
    return Math.min(1, (this.summary?.step ?? this.last?.step ?? 0) / this.totalSteps);
  }

  private formatLoss(value: number): string {
    return Number.isFinite(value) ? value.toPrecision(this.options.digits) : String(value);
  }

  /** The parts after the bar, shared by the HTML and the text line. */
  private fields(): string[] {
    const s = this.summary;
    if (s) {
      const verb = s.step >= s.totalSteps ? 'done' : 'stopped at';
      const losses = Object.entries(s.final).map(([name, value]) => {
        const best = s.best[name];
        return `${name} ${this.formatLoss(value)}${best ? ` (min ${this.formatLoss(best.value)} at ${best.step})` : ''}`;
      });
      const rate = s.stepsPerSec === undefined ? [] : [`${s.stepsPerSec.toPrecision(3)} steps/s`];
      return [`${verb} ${s.step}/${s.totalSteps} steps in ${formatDuration(s.seconds)}`, ...rate, ...losses];
    }
    const u = this.last;
    if (!u) return [`0/${this.totalSteps}`, 'starting'];
    const parts = [`${u.step}/${this.totalSteps} (${Math.floor(this.fraction() * 100)}%)`];
    for (const [name, value] of Object.entries(u.losses)) parts.push(`${name} ${this.formatLoss(value)}`);
    if (u.lr !== undefined) parts.push(`lr ${u.lr.toExponential(2)}`);
    for (const [name, value] of Object.entries(u.info ?? {})) {
      parts.push(`${name} ${typeof value === 'number' ? value.toPrecision(this.options.digits) : value}`);
    }
    if (this.rate !== undefined && this.rate > 0) {
      parts.push(`${this.rate.toPrecision(3)} steps/s`, `ETA ${formatDuration((this.totalSteps - u.step) / this.rate)}`);
    }
    return parts;
  }

  toText(): string {
    return `${this.options.title}: ${this.fields().join(' | ')}`;
  }

  toHtml(): string {
    const s = this.summary;
    const colour = !s ? '#1f77b4' : s.step >= s.totalSteps ? '#2ca02c' : '#ff7f0e';
    const bar = '<span style="display:inline-block;width:160px;height:9px;background:#e6e6e6;border-radius:2px;vertical-align:middle;">' +
      `<span style="display:block;width:${(this.fraction() * 100).toFixed(1)}%;height:100%;background:${colour};border-radius:2px;"></span></span>`;
    const fields = this.fields().map(escapeHtml).join(' &middot; ');
    return `<div style="font-family:monospace;font-size:12px;line-height:1.6;"><b>${escapeHtml(this.options.title)}</b> ${bar} ${fields}</div>`;
  }

  toMimeBundle(): MimeBundle {
    return { data: { 'text/html': this.toHtml(), 'text/plain': this.toText() } };
  }
}

/** A per-step callback for a trainer: builds a Progress and finishes it at `totalSteps`. */
export function progressCallback(totalSteps: number, options?: Partial<ProgressOptions>, clock?: Clock): (u: ProgressUpdate) => void {
  return new Progress(totalSteps, options, clock).callback;
}

/** `75` -> '1:15', `4000` -> '1:06:40'. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

