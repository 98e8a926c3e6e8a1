/**
 * What every model facade of the lab shares (Transfusion, and the discrete-token ChameleonBaseline of
 * src/baseline): a network of the module system behind it, parameters by dotted name, train/eval modes, a text
 * summary (name and parameter count, the objective in one line, the architecture tree) and the notebook view of
 * that summary. A facade adds its own objective and generation on top.
 */
import type { tf } from '../engine/tf';
import type { Module } from '../blocks/module';
import type { MimeBundle } from '../viz/mime';
import { escapeHtml } from '../viz/html';

export abstract class ModelFacade<N extends Module> {
  abstract readonly net: N;

  /** The model's name in its summary, e.g. 'Transfusion'. */
  protected abstract readonly title: string;

  /** The objective in one line, the summary's second line. */
  protected abstract objectiveLine(): string;

  namedParameters(): [string, tf.Variable][] {
    return this.net.namedParameters();
  }

  numParameters(): number {
    return this.net.numParameters();
  }

  train(mode = true): this {
    this.net.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Architecture tree, objective and parameter count. */
  summary(): string {
    return `${this.title}: ${this.numParameters().toLocaleString('en-US')} parameters\n${this.objectiveLine()}\n${this.net.summary()}`;
  }

  /** The summary in a notebook: the head line, the objective, and the architecture tree folded away. */
  toMimeBundle(): MimeBundle {
    const text = this.summary();
    const [head, objective, ...tree] = text.split('\n');
    const html = `<div><b>${escapeHtml(head)}</b><br><span>${escapeHtml(objective)}</span>` +
      `<details><summary>architecture</summary><pre>${escapeHtml(tree.join('\n'))}</pre></details></div>`;
    return { data: { 'text/plain': text, 'text/html': html } };
  }

  /** Free the network's parameters. */
  dispose(): void {
    this.net.dispose();
  }
}
