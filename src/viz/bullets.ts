/**
 * Sentences shown as a bulleted list: an HTML list in a notebook (and its HTML export), plain lines in a log or
 * `npm run notebooks`' text output. What a notebook's computed conclusion is displayed as.
 */
import { escapeHtml } from './html';
import type { HasMimeBundle, MimeBundle } from './mime';

export class Bullets implements HasMimeBundle {
  constructor(readonly lines: readonly string[]) {}

  toText(): string {
    return this.lines.map((l) => `- ${l}`).join('\n');
  }

  toHtml(): string {
    return `<ul>${this.lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`;
  }

  toMimeBundle(): MimeBundle {
    return { data: { 'text/html': this.toHtml(), 'text/plain': this.toText() } };
  }
}

/** `bullets(['lambda=20 against lambda=5: worse', ...])` as a cell's value shows the list. */
export function bullets(lines: readonly string[]): Bullets {
  return new Bullets(lines);
}
