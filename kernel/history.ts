/**
 * The kernel's input history, answering `history_request` the way ipykernel does (tail, range and glob
 * search), so a console's up-arrow and `%history`-style front ends work.
 *
 * It lives in memory for the life of the kernel process: one session, numbered 1, whose line numbers are
 * the cells' execution counts. IPython also keeps past sessions in SQLite; a TypeScript kernel restarted
 * from a notebook has no use for them, and a file would make two kernels in one folder race on it.
 */
import { HistoryEntry, HistoryRequest } from './protocol';

interface Line {
  readonly line: number;
  readonly input: string;
  /** The text/plain of the cell's result, null when it showed none. */
  readonly output: string | null;
}

/** Sqlite-GLOB semantics, as IPython's search uses: `*` any run, `?` one character, `[...]` a class; whole string. */
export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      // GLOB negates a class with a leading '^' as a regular expression does, and allows ']' as its first
      // member ('[]a]'), which a regular expression must see escaped.
      const body = pattern.slice(i + 1, close).replace(/[\\\]]/g, '\\$&');
      out += `[${body}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export class History {
  /** The one session this process keeps; `session: 0` in a request also means it. */
  readonly session = 1;
  private readonly lines: Line[] = [];

  record(line: number, input: string, output: string | null): void {
    this.lines.push({ line, input, output });
  }

  query(request: HistoryRequest): HistoryEntry[] {
    switch (request.hist_access_type) {
      case 'tail':
        return this.format(lastN(this.lines, request.n), request.output);
      case 'range': {
        if (!this.isCurrent(request.session ?? 0)) return [];
        const start = request.start ?? 0;
        const stop = request.stop ?? Number.POSITIVE_INFINITY;
        return this.format(this.lines.filter((l) => l.line >= start && l.line < stop), request.output);
      }
      case 'search': {
        const re = globToRegExp(request.pattern ?? '*');
        let found = this.lines.filter((l) => re.test(l.input));
        if (request.unique) {
          // Keep each distinct input once, at its latest occurrence, as IPython's GROUP BY source does.
          const latest = new Map<string, Line>();
          for (const l of found) latest.set(l.input, l);
          found = found.filter((l) => latest.get(l.input) === l);
        }
        return this.format(lastN(found, request.n), request.output);
      }
    }
  }

  /** Sessions are numbered absolutely (1 here) or relative to the current one (0 = current, -1 = previous). */
  private isCurrent(session: number): boolean {
    return session === 0 || session === this.session;
  }

  private format(lines: readonly Line[], withOutput: boolean): HistoryEntry[] {
    return lines.map((l) => [this.session, l.line, withOutput ? [l.input, l.output] : l.input]);
  }
}

function lastN<T>(items: readonly T[], n: number | undefined): T[] {
  return n === undefined || n <= 0 ? [...items] : items.slice(Math.max(0, items.length - n));
}
