/**
 * One writer per run folder and per sweep folder. A writer holds `<folder>/.lock`, a small JSON file naming
 * it (pid, host, start time, command); a second writer fails with an error naming the folder and that owner
 * instead of deleting or interleaving the first one's files. The lock is published with link(2), which fails
 * when the name exists, so it appears whole or not at all and two writers never both get it.
 *
 * A writer that dies (killed, heap exhausted) cannot release its lock: the next writer takes it over when
 * the owner's pid is gone from this host (`process.kill(pid, 0)` says ESRCH). A lock from another host is
 * never taken over, since its pid means nothing here. Locks are released when the run or sweep ends, and by a
 * process 'exit' handler; no signal handler is installed, because the kernel's SIGINT is a cooperative
 * interrupt (src/engine/interrupt.ts), and a signal that kills the process leaves a lock the pid check clears.
 *
 * A writer may also wait its turn instead of being refused (`FolderLock.acquireWhenFree`): while another live
 * process on this host holds the folder, it polls until that process lets go. This is how two kernels running
 * the same sweep share its arms (sweep.ts) and how `trainRun({ resume: true })` goes on with a run another
 * process is training.
 */
import { closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { temporaryFileOwner } from './atomic';

export const LOCK_FILE = '.lock';

/** The writer a lock names. */
export interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  /** ISO 8601 time the lock was taken. */
  readonly startedAt: string;
  /** The owner's command line (process.argv), to recognise it in `ps`. */
  readonly command: string;
  /** What holds it, e.g. 'trainRun quickstart' or 'sweep lambda'. */
  readonly purpose: string;
}

/** A second writer, refused: `owner` is who holds the folder, or null when the lock file is unreadable. */
export class FolderLockedError extends Error {
  constructor(readonly dir: string, readonly owner: LockOwner | null, message: string) {
    super(message);
    this.name = 'FolderLockedError';
  }
}

/** Locks this process holds, by lock path: released at exit, and how a second writer in-process is told apart. */
const held = new Map<string, FolderLock>();
let exitHookInstalled = false;

/** True when `pid` is a live process on this host (EPERM: alive, another user's). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export function describeOwner(owner: LockOwner): string {
  const command = owner.command.length > 200 ? `${owner.command.slice(0, 200)}...` : owner.command;
  return `pid ${owner.pid} on host ${owner.hostname} (${owner.purpose}, since ${owner.startedAt}, command: ${command})`;
}

/** The owner in `<dir>/.lock`, null when there is no lock; an unreadable lock is an error naming the file. */
export function readLock(dir: string): LockOwner | null {
  const path = join(dir, LOCK_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let owner: Partial<LockOwner>;
  try {
    owner = JSON.parse(text) as Partial<LockOwner>;
  } catch {
    owner = {};
  }
  const valid = owner !== null && typeof owner === 'object' && Number.isSafeInteger(owner.pid) && owner.pid! > 0
    && typeof owner.hostname === 'string' && typeof owner.startedAt === 'string' && typeof owner.command === 'string' && typeof owner.purpose === 'string';
  if (!valid) {
    throw new FolderLockedError(resolve(dir), null, `${path} is not a lock this lab wrote (expected JSON with pid > 0, hostname, startedAt, command, purpose; got ${JSON.stringify(text.slice(0, 100))}); delete it if no process is writing to ${resolve(dir)}`);
  }
  return owner as LockOwner;
}

/** Whether the writer that holds `dir` still runs: 'gone' without a lock or with a dead pid on this host. */
export function writerState(dir: string): 'alive' | 'gone' | 'unknown' {
  let owner: LockOwner | null;
  try {
    owner = readLock(dir);
  } catch {
    return 'unknown';
  }
  if (owner === null) return 'gone';
  if (owner.hostname !== hostname()) return 'unknown';
  if (owner.pid === process.pid) return held.has(join(resolve(dir), LOCK_FILE)) ? 'alive' : 'gone';
  return processAlive(owner.pid) ? 'alive' : 'gone';
}

/**
 * Remove the temporary files of atomic writes (`<name>.tmp-<pid>`) under `dir` whose writer is gone: whoever
 * left them, they will never be renamed into place.
 */
function removeDeadTemporaryFiles(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      removeDeadTemporaryFiles(path);
      continue;
    }
    const pid = temporaryFileOwner(e.name);
    if (pid !== null && pid !== process.pid && !processAlive(pid)) rmSync(path, { force: true });
  }
}

/** True when `owner` is another process on this host: one that can be waited for (a refusal found it alive). */
export function isOtherLocalProcess(owner: LockOwner | null): owner is LockOwner {
  return owner !== null && owner.hostname === hostname() && owner.pid !== process.pid;
}

/** The owner of `dir` when it is another live process on this host, else null (free, stale, ours or remote). */
export function heldElsewhere(dir: string): LockOwner | null {
  let owner: LockOwner | null;
  try {
    owner = readLock(dir);
  } catch {
    return null; // an unreadable lock: the writer that reads it next reports it
  }
  return isOtherLocalProcess(owner) && processAlive(owner.pid) ? owner : null;
}

/** How `FolderLock.acquireWhenFree` waits. */
export interface WaitOptions {
  /** Polled every `pollMs` while waiting: true gives up (the call returns null). */
  readonly stop?: () => boolean;
  /** Milliseconds between two looks at the lock (default 2000). */
  readonly pollMs?: number;
  /** Called once per holder waited for, e.g. to print who holds the folder. */
  readonly onWait?: (owner: LockOwner) => void;
}

export const DEFAULT_WAIT_POLL_MS = 2000;

/**
 * Wait, without taking `dir`, while another live process on this host holds it (`heldElsewhere`), looking every
 * `pollMs`: true once it is free, false when `stop()` turned true first. `onWait` hears of each holder once.
 */
export async function waitWhileHeldElsewhere(dir: string, options: WaitOptions = {}): Promise<boolean> {
  const pollMs = options.pollMs ?? DEFAULT_WAIT_POLL_MS;
  let waitedFor: LockOwner | null = null;
  for (let owner = heldElsewhere(dir); owner !== null; owner = heldElsewhere(dir)) {
    if (waitedFor === null || waitedFor.pid !== owner.pid || waitedFor.startedAt !== owner.startedAt) {
      waitedFor = owner;
      options.onWait?.(owner);
    }
    if (options.stop?.() === true) return false;
    await new Promise((done) => setTimeout(done, pollMs));
  }
  return true;
}

/** A lock this process holds on a folder; `release` is idempotent. */
export class FolderLock {
  private released = false;

  private constructor(readonly dir: string, readonly path: string, readonly owner: LockOwner) {}

  /**
   * Take `dir` (made if missing) for one writer, `purpose` saying which (shown to a refused second writer).
   * Takes over a lock whose owner is gone, then removes the temporary files dead writers left behind.
   */
  static acquire(dir: string, purpose: string): FolderLock {
    const folder = resolve(dir);
    mkdirSync(folder, { recursive: true });
    const path = join(folder, LOCK_FILE);
    const owner: LockOwner = {
      pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), command: process.argv.join(' '), purpose,
    };
    // Three tries: a lock found stale may be taken over by another process between our check and our link.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (publish(path, owner)) {
        const lock = new FolderLock(folder, path, owner);
        held.set(path, lock);
        installExitHook();
        removeDeadTemporaryFiles(folder);
        return lock;
      }
      const current = readLock(folder);
      if (current === null) continue;
      refuseUnlessGone(folder, current);
      takeOver(folder, current);
    }
    throw new FolderLockedError(folder, readLock(folder), `${folder} is being taken by other writers at the same time; try again`);
  }

  /**
   * `acquire`, except that while another live process on this host holds `dir` it waits for that process to let
   * go (`waitWhileHeldElsewhere`) instead of refusing; null when `stop()` turned true first. A holder on another
   * host, an unreadable lock, or this very process holding `dir` is refused at once, as by `acquire`.
   */
  static async acquireWhenFree(dir: string, purpose: string, options: WaitOptions = {}): Promise<FolderLock | null> {
    for (;;) {
      try {
        return FolderLock.acquire(dir, purpose);
      } catch (e) {
        if (!(e instanceof FolderLockedError) || !isOtherLocalProcess(e.owner)) throw e;
      }
      if (!(await waitWhileHeldElsewhere(dir, options))) return null;
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    // Only our own lock is removed: after a takeover by another process (which needs our pid gone) it is theirs.
    try {
      const current = readLock(this.dir);
      if (current && current.pid === this.owner.pid && current.startedAt === this.owner.startedAt) rmSync(this.path, { force: true });
    } catch {
      // An unreadable lock is not ours to remove.
    }
  }
}

/** Write `owner` to a temporary file and link it to `path`: false when `path` exists. */
function publish(path: string, owner: LockOwner): boolean {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(owner, null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function refuseUnlessGone(dir: string, owner: LockOwner): void {
  const path = join(dir, LOCK_FILE);
  if (owner.hostname !== hostname()) {
    throw new FolderLockedError(dir, owner, `${dir} is in use by ${describeOwner(owner)}; that host's process cannot be checked from here: if it has ended, delete ${path}`);
  }
  if (owner.pid === process.pid && held.has(path)) {
    throw new FolderLockedError(dir, owner, `${dir} is in use by this process, pid ${owner.pid} (${owner.purpose}, since ${owner.startedAt}): one run or sweep per folder at a time; wait for it to end (a Run ends with finish() or fail()), or use another name`);
  }
  if (owner.pid !== process.pid && processAlive(owner.pid)) {
    throw new FolderLockedError(dir, owner, `${dir} is in use by ${describeOwner(owner)}: one writer per folder; wait for it to end, stop that process, or use another name`);
  }
}

/**
 * Remove a stale lock, unless another process replaced it since we read it. The check and the removal are
 * not one step; the guard file (taken with O_EXCL) makes takers go one at a time, so a fresh lock is never
 * removed as stale by a second taker.
 */
function takeOver(dir: string, stale: LockOwner): void {
  const guard = join(dir, `${LOCK_FILE}.takeover`);
  let fd: number;
  try {
    fd = openSync(guard, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // The guard of a taker that died between the two calls below would otherwise stay forever.
    let guardPid = 0;
    try {
      guardPid = Number(readFileSync(guard, 'utf8'));
    } catch {
      return;
    }
    if (Number.isSafeInteger(guardPid) && guardPid > 0 && !processAlive(guardPid)) rmSync(guard, { force: true });
    return;
  }
  try {
    writeSync(fd, String(process.pid));
    const current = readLock(dir);
    if (current && current.pid === stale.pid && current.startedAt === stale.startedAt) rmSync(join(dir, LOCK_FILE), { force: true });
  } finally {
    closeSync(fd);
    rmSync(guard, { force: true });
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lock of [...held.values()]) lock.release();
  });
}

/** The lock file and its takeover guard: machine-local state, never part of a shared or zipped run. */
export function isLockFile(name: string): boolean {
  return name === LOCK_FILE || name === `${LOCK_FILE}.takeover`;
}

/** True when `dir` holds files besides the lock (and temporary files): replacing it would lose something. */
export function folderHasContent(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => !isLockFile(f) && temporaryFileOwner(f) === null);
}
