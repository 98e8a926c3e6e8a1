/**
 * Atomic file replacement: write `path.tmp-<pid>`, fsync it, rename it over `path`, fsync the folder.
 * rename(2) swaps the name in one step, so a reader (or a crash) sees either the old file whole or the new
 * one whole; an error or a kill before the rename leaves the old checkpoint untouched. The pid in the
 * temporary name keeps two processes saving to one path from writing into the same temporary file.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** The temporary file `writeFileAtomic` fills before renaming it to `path`. */
export function temporaryPath(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

function writeAll(fd: number, chunk: Uint8Array): void {
  // writeSync may write fewer bytes than asked (large chunks, signals): loop until the chunk is out.
  for (let at = 0; at < chunk.byteLength; ) at += writeSync(fd, chunk, at, chunk.byteLength - at);
}

function fsyncFolder(folder: string): void {
  let fd: number;
  try {
    fd = openSync(folder, 'r');
  } catch {
    // Some platforms (Windows) cannot open a folder for reading; the rename is still atomic there, only its
    // durability across a power cut is the file system's.
    return;
  }
  try {
    fsyncSync(fd);
  } catch (e) {
    // Folders on some file systems refuse fsync (EINVAL, EISDIR, EPERM): as above, nothing more can be done.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'EBADF'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    closeSync(fd);
  }
}

/**
 * Replace `path` with the concatenation of `chunks`, atomically. `chunks` is consumed while the temporary file
 * is open, so a producer that throws (or a process that dies) midway never touches `path`; on an error the
 * temporary file is removed and the error rethrown.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  const tmp = temporaryPath(path);
  const fd = openSync(tmp, 'w');
  try {
    for (const chunk of chunks) writeAll(fd, chunk);
    // Data reach the disk before the rename publishes them: otherwise a crash could leave `path` naming a
    // file whose blocks were never written.
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncFolder(dirname(path));
}
