/**
 * An arquero table shown inline: its own HTML for notebooks, aligned text for logs. Results of a sweep,
 * per-arm metrics, a dataset's first rows. Typed structurally, so any object with arquero's table methods
 * works and this module does not load arquero itself.
 */
import { check, mergeConfig } from '../config';
import type { HasMimeBundle, MimeBundle } from './mime';

/** The part of arquero's ColumnTable this display uses. */
export interface TableLike {
  numRows(): number;
  numCols(): number;
  columnNames(): string[];
  toHTML(options?: { limit?: number }): string;
  objects(options?: { limit?: number }): object[];
}

export interface TableOptions {
  /** Rows shown; the rest are counted in a footer. Default 20. */
  readonly maxRows: number;
  /** Significant digits of non-integer numbers in the text view. Default 4. */
  readonly digits: number;
}

export const DEFAULT_TABLE: TableOptions = { maxRows: 20, digits: 4 };

export class TableView implements HasMimeBundle {
  constructor(readonly table: TableLike, readonly options: TableOptions) {}

  private footer(): string {
    const rows = this.table.numRows();
    const hidden = rows - Math.min(rows, this.options.maxRows);
    return `${rows} rows x ${this.table.numCols()} columns${hidden > 0 ? ` (${hidden} more rows not shown)` : ''}`;
  }

  /** Columns padded to their widest cell; numbers right-aligned, as a reader scans them. */
  toText(): string {
    const names = this.table.columnNames();
    const rows = this.table.objects({ limit: this.options.maxRows }) as Record<string, unknown>[];
    const cells = rows.map((row) => names.map((name) => formatCell(row[name], this.options.digits)));
    const numeric = names.map((name) => rows.length > 0 && rows.every((row) => typeof row[name] === 'number'));
    const widths = names.map((name, c) => Math.max(name.length, ...cells.map((r) => r[c].length)));
    const line = (values: string[]) => values.map((v, c) => (numeric[c] ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ').trimEnd();
    return [line(names), ...cells.map(line), this.footer()].join('\n');
  }

  toHtml(): string {
    return `${this.table.toHTML({ limit: this.options.maxRows })}<div style="font-size:smaller;opacity:0.7;">${this.footer()}</div>`;
  }

  toMimeBundle(): MimeBundle {
    return { data: { 'text/html': this.toHtml(), 'text/plain': this.toText() } };
  }
}

function formatCell(value: unknown, digits: number): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(digits);
  if (value === null || value === undefined) return '';
  return value instanceof Date ? value.toISOString() : String(value);
}

/** An arquero table as an inline display (`table(dt, { maxRows: 10 })`). */
export function table(dt: TableLike, options?: Partial<TableOptions>): TableView {
  const opts = mergeConfig(DEFAULT_TABLE, options, 'table');
  check.positiveInt('table.maxRows', opts.maxRows);
  check.positiveInt('table.digits', opts.digits);
  return new TableView(dt, opts);
}
