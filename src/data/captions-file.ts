/**
 * Reading an image folder's caption list: CSV with a `file,caption` header, or JSONL with one
 * `{"file": ..., "caption": ...}` object a line. Every problem is reported with the file and line, since
 * these lists are written by hand or by scripts and a silent skip would train on the wrong pairs.
 *
 * The list is decoded as strict UTF-8 (a byte that is not UTF-8 fails rather than becoming U+FFFD in a
 * caption the model then learns), and the images it names must lie inside its folder: no absolute paths and
 * no `..` that climbs out, so a list from elsewhere cannot read arbitrary files.
 */
import * as path from 'node:path';

/** A bad caption list or a missing image: names the file and, where there is one, the line. */
export class DataFileError extends Error {
  constructor(readonly file: string, readonly line: number | null, readonly problem: string) {
    super(`${file}${line === null ? '' : `:${line}`}: ${problem}`);
    this.name = 'DataFileError';
  }
}

/** One caption entry; `line` is where its record starts (1-based), for later errors about the image. */
export interface CaptionEntry {
  readonly file: string;
  readonly caption: string;
  readonly line: number;
}

/**
 * The bytes of a text file as strict UTF-8 (a leading BOM is dropped); invalid bytes fail naming the file and
 * the line they are on.
 */
export function decodeUtf8(bytes: Uint8Array, name: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Find the line: decoding line by line fails first on the line that holds the bad bytes.
    const strict = new TextDecoder('utf-8', { fatal: true });
    let start = 0;
    for (let line = 1; ; line++) {
      const end = bytes.indexOf(0x0a, start);
      const stop = end < 0 ? bytes.length : end;
      try {
        strict.decode(bytes.subarray(start, stop));
      } catch {
        throw new DataFileError(name, line, 'not valid UTF-8 text (save the file as UTF-8)');
      }
      if (end < 0) throw new DataFileError(name, null, 'not valid UTF-8 text (save the file as UTF-8)');
      start = end + 1;
    }
  }
}

/** Throw unless `file` names a path inside the list's folder: relative, and no `..` that leaves it. */
function checkInsideFolder(file: string, name: string, line: number): void {
  const reason = file.includes('\0') ? 'a NUL character'
    : path.posix.isAbsolute(file) || path.win32.isAbsolute(file) ? 'an absolute path'
      : path.posix.normalize(file.replace(/\\/g, '/')).split('/')[0] === '..' ? 'a path that climbs out of the folder'
        : null;
  if (reason !== null) {
    throw new DataFileError(name, line, `"file" ${JSON.stringify(file)} is ${reason}; allowed: a path relative to the caption list's folder, inside it`);
  }
}

/** Parse a caption list; JSONL when the name ends in `.jsonl`, CSV otherwise. `name` is used in errors. */
export function parseCaptions(text: string, name: string): CaptionEntry[] {
  const entries = name.toLowerCase().endsWith('.jsonl') ? parseJsonl(text, name) : parseCsvCaptions(text, name);
  if (entries.length === 0) throw new DataFileError(name, null, 'no entries');
  for (const e of entries) checkInsideFolder(e.file, name, e.line);
  return entries;
}

function parseJsonl(text: string, name: string): CaptionEntry[] {
  const entries: CaptionEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new DataFileError(name, line, `not valid JSON (${(e as Error).message})`);
    }
    const row = value as { file?: unknown; caption?: unknown };
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DataFileError(name, line, 'expected an object {"file": string, "caption": string}');
    }
    if (typeof row.file !== 'string' || row.file === '') throw new DataFileError(name, line, `"file" must be a non-empty string, got ${JSON.stringify(row.file)}`);
    if (typeof row.caption !== 'string') throw new DataFileError(name, line, `"caption" must be a string, got ${JSON.stringify(row.caption)}`);
    entries.push({ file: row.file, caption: row.caption, line });
  });
  return entries;
}

function parseCsvCaptions(text: string, name: string): CaptionEntry[] {
  const records = parseCsv(text, name);
  if (records.length === 0) throw new DataFileError(name, null, 'empty; expected a header line "file,caption"');
  const header = records[0].fields.map((h) => h.trim());
  const fileCol = header.indexOf('file');
  const captionCol = header.indexOf('caption');
  if (fileCol < 0 || captionCol < 0) {
    throw new DataFileError(name, records[0].line, `header must name the columns "file" and "caption", got ${JSON.stringify(records[0].fields)}`);
  }
  return records.slice(1).map(({ line, fields }) => {
    if (fields.length !== header.length) {
      throw new DataFileError(name, line, `${fields.length} fields where the header has ${header.length} (quote a caption that contains a comma)`);
    }
    const file = fields[fileCol].trim();
    if (file === '') throw new DataFileError(name, line, 'empty "file" field');
    return { file, caption: fields[captionCol], line };
  });
}

/**
 * RFC 4180 CSV: fields separated by commas, optionally double-quoted (a quoted field may hold commas,
 * newlines and "" for a quote). Blank lines are skipped.
 */
export function parseCsv(text: string, name: string): Array<{ line: number; fields: string[] }> {
  const records: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let quoted = false;
  let touched = false;
  const endRecord = (): void => {
    fields.push(field);
    if (touched) records.push({ line: start, fields });
    fields = [];
    field = '';
    touched = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
        if (i + 1 < text.length && !',\r\n'.includes(text[i + 1])) {
          throw new DataFileError(name, line, 'text after a closing quote (write "" for a quote inside a quoted field)');
        }
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
      touched = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      touched = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else {
      field += ch;
      touched = true;
    }
  }
  if (quoted) throw new DataFileError(name, start, 'a quoted field is never closed');
  endRecord();
  return records;
}
