/**
 * Experiments: recorded training runs (runs/<name>/), sweeps over config fields, comparison tables and
 * figures, and sharing (a self-contained HTML report, a zip of the folder, loading a run back).
 */
export * from './experiment-config';
export * from './dotted-path';
export * from './provenance';
export * from './run-record';
export * from './train-run';
export * from './sweep';
export * from './rescore';
export * from './load-run';
export * from './compare';
export * from './report';
export * from './zip';
export * from './recipes';
export * from './stats';
export { FolderLock, FolderLockedError, LOCK_FILE, readLock, type LockOwner } from './lock';
export { configChanges } from './config-diff';
export { RunFileError } from './file-check';
export { writeRunFile, writeRunJson, canonicalJson, readJsonFile } from './atomic';
export * from './research';
export * from './heldout';
export * from './ablation';
