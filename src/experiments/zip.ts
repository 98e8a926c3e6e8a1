/**
 * A run folder as one .zip, to attach to a message or an issue. No zip package is among the lab's
 * dependencies, and the format needs little: each file deflated with Node's zlib (or stored, when deflating
 * does not shrink it, as with PNGs), a local header before it, and a central directory at the end (PKWARE
 * APPNOTE 6.3.x, sections 4.3-4.4). Any unzip tool, Python's zipfile and the OS file managers read it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import * as zlib from 'node:zlib';
import { writeRunFile, isTemporaryFile } from './atomic';
import { isLockFile } from './lock';

/** CRC-32 (ISO-HDLC polynomial 0xEDB88320), table-driven; used where zlib.crc32 (Node >= 20.15) is missing. */
let table: Uint32Array | undefined;
function tableCrc32(data: Uint8Array): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The CRC-32 a zip entry records for `data`. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  return native ? native(data) >>> 0 : tableCrc32(data);
}

export interface ZipEntry {
  /** Path inside the archive, '/'-separated. */
  readonly name: string;
  readonly data: Uint8Array;
  readonly modified: Date;
}

/** MS-DOS date and time words (2-second resolution, local time), as zip headers store them. */
function dosDateTime(d: Date): { date: number; time: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
  };
}

const UTF8_NAMES = 0x0800; // general purpose bit 11: names are UTF-8
const LIMIT = 0xffffffff; // beyond this, sizes and offsets need Zip64, which these archives never do

/** The bytes of a zip archive holding `entries`. */
export function zipArchive(entries: readonly ZipEntry[]): Buffer {
  if (entries.length > 0xffff) throw new RangeError(`zip: ${entries.length} files; at most 65535 fit without Zip64`);
  const locals: Uint8Array[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const deflated = zlib.deflateRawSync(entry.data);
    const stored = deflated.length >= entry.data.length;
    const body = stored ? Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength) : deflated;
    if (entry.data.length > LIMIT || offset > LIMIT) throw new RangeError(`zip: ${entry.name} lies past 4 GiB; Zip64 is not written`);
    const crc = crc32(entry.data);
    const { date, time } = dosDateTime(entry.modified);
    const method = stored ? 0 : 8;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); // local file header signature
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // extra field length
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); // central directory header signature
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, spec 2.0 (so the mode below is read)
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(UTF8_NAMES, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    // 30-36: extra, comment length, disk number start, internal attributes: all 0
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory signature
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * Every file under `dir`, sorted, skipping the temporary files of atomic writes in progress and the writers'
 * locks (they name a process on this machine, which means nothing where the zip is opened).
 */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return filesUnder(path);
      return e.isFile() && !isTemporaryFile(path) && !isLockFile(e.name) ? [path] : [];
    });
}

/**
 * Zip the folder `dir` (a run or a sweep) into `out` (default `<dir>.zip`, beside it); returns the zip's path.
 * Entries are named `<folder name>/<path>`, so unzipping recreates the folder.
 */
export function zipRun(dir: string, out?: string): string {
  const root = resolve(dir);
  if (!statSync(root).isDirectory()) throw new Error(`zipRun: ${root} is not a folder`);
  const target = resolve(out ?? `${root}.zip`);
  const top = basename(root);
  const entries = filesUnder(root).filter((f) => f !== target).map((path) => ({
    name: [top, ...relative(root, path).split(sep)].join('/'),
    data: readFileSync(path),
    modified: statSync(path).mtime,
  }));
  writeRunFile(target, zipArchive(entries));
  return target;
}
