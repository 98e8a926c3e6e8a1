/**
 * The trained reference classifier on disk, so a notebook evaluates in seconds instead of retraining it.
 * Saved as safetensors (src/checkpoint/safetensors.ts) with dotted parameter names; the architecture, the
 * training config and the held-out accuracy ride in `__metadata__`, so a file trained differently from what is
 * asked for is recognised and retrained rather than silently used.
 */
import { findLabRoot } from '../engine/root';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tf } from '../engine/tf';
import { mergeConfig, type DeepPartial } from '../config';
import { readSafetensors, tensorSource, toTensor, writeSafetensors } from '../checkpoint/safetensors';
import { DigitClassifier, type ClassifierConfig } from './classifier';
import { DEFAULT_CLASSIFIER_TRAIN, trainClassifier, type ClassifierTrainConfig } from './classifier-train';

/** `__metadata__.format` of a classifier file. */
export const CLASSIFIER_FORMAT = 'transfusion-lab/digit-classifier';

/** The folder of the lab's package.json, above this file from src/eval or dist/src/eval (else the working folder). */
/** The default cache file: `out/classifier-16.safetensors` under the lab's root (out/ is git-ignored). */
export function defaultClassifierPath(): string {
  return join(findLabRoot(), 'out', 'classifier-16.safetensors');
}

/** A classifier read from disk, with what it was trained by and how well it did. */
export interface StoredClassifier {
  readonly classifier: DigitClassifier;
  readonly train: ClassifierTrainConfig;
  readonly heldoutAccuracy: number;
}

/** Write the weights and their provenance (atomically: an interrupted save keeps the previous file). */
export function saveClassifier(path: string, stored: StoredClassifier): void {
  mkdirSync(dirname(path), { recursive: true });
  const tensors = Object.fromEntries(stored.classifier.namedParameters().map(([name, v]) => [name, tensorSource(v, name)]));
  writeSafetensors(path, tensors, {
    format: CLASSIFIER_FORMAT,
    classifier: JSON.stringify(stored.classifier.config),
    train: JSON.stringify(stored.train),
    heldoutAccuracy: String(stored.heldoutAccuracy),
  });
}

/** Read a file written by `saveClassifier`; errors name the file and what is wrong. */
export function loadClassifier(path: string): StoredClassifier {
  const { tensors, metadata } = readSafetensors(path);
  if (metadata.format !== CLASSIFIER_FORMAT) {
    throw new Error(`${path}: __metadata__.format is ${JSON.stringify(metadata.format)}, expected "${CLASSIFIER_FORMAT}" (not a digit-classifier file)`);
  }
  const config = JSON.parse(metadata.classifier) as ClassifierConfig;
  const classifier = new DigitClassifier(config);
  const state = Object.fromEntries(Object.entries(tensors).map(([name, host]) => [name, toTensor(host, name, path)]));
  try {
    classifier.loadStateDict(state);
  } finally {
    tf.dispose(Object.values(state));
  }
  classifier.eval();
  return { classifier, train: JSON.parse(metadata.train) as ClassifierTrainConfig, heldoutAccuracy: Number(metadata.heldoutAccuracy) };
}

export interface CachedClassifierOptions {
  /** The file (default `defaultClassifierPath()`). */
  readonly path?: string;
  /** Train anew even when the file matches (default false). */
  readonly retrain?: boolean;
  /** Print one line saying whether the file was used or the classifier trained (default true: training takes a while). */
  readonly verbose?: boolean;
}

/**
 * The classifier trained with `overrides` (DEFAULT_CLASSIFIER_TRAIN plus changes): read from `options.path` when
 * the file was trained with exactly that config, else trained (about half a minute on nativecpu) and saved there.
 */
export async function cachedClassifier(overrides: DeepPartial<ClassifierTrainConfig> = {}, options: CachedClassifierOptions = {}): Promise<StoredClassifier> {
  const path = options.path ?? defaultClassifierPath();
  const wanted = mergeConfig(DEFAULT_CLASSIFIER_TRAIN, overrides, 'classifierTrain');
  const say = options.verbose === false ? () => undefined : (line: string) => console.log(line);
  if (!options.retrain && existsSync(path)) {
    const stored = loadClassifier(path);
    if (JSON.stringify(stored.train) === JSON.stringify(wanted)) {
      say(`classifier: loaded ${path} (held-out accuracy ${(100 * stored.heldoutAccuracy).toFixed(1)}%)`);
      return stored;
    }
    stored.classifier.dispose();
    say(`classifier: ${path} was trained with another config; retraining`);
  }
  const trained = await trainClassifier(wanted);
  const stored = { classifier: trained.classifier, train: trained.config, heldoutAccuracy: trained.heldoutAccuracy };
  saveClassifier(path, stored);
  say(`classifier: trained in ${trained.seconds.toFixed(1)} s, held-out accuracy ${(100 * trained.heldoutAccuracy).toFixed(1)}%, saved to ${path}`);
  return stored;
}
