/**
 * Attention masks as composable predicates over a SequenceLayout (docs/ARCHITECTURE.md, 'Masks'):
 * `allows(q, k, layout)` says whether query position q may attend to key position k. Predicates combine with `and`,
 * `or`, `not`, and one function (mask-materialize.ts) turns a predicate and a batch of layouts into a [B, L, L]
 * tensor.
 *
 * Each built-in predicate also carries a vectorised `dense` form over index tensors, so materialising a
 * mask is a handful of tensor ops rather than L^2 JavaScript calls; the scalar `allows` stays the definition
 * and the test oracle. A predicate without `dense` (a researcher's own rule) still works, through the loop.
 */
import { tf } from '../engine/tf';
import { check } from '../config';
import { BUILT_IN, KindFamily, type KindDefinition } from '../registry';
import { SequenceLayout } from './layout';

/**
 * Index tensors a dense predicate is computed from. Queries run along axis 1 and keys along axis 2, so
 * comparisons broadcast to [B or 1, Lq, Lk]. Query rows may start after 0 (a cached prefix): `query` holds
 * their true positions.
 */
export interface MaskIndex {
  /** Query positions, [1, Lq, 1] int32. */
  readonly query: tf.Tensor;
  /** Key positions, [1, 1, Lk] int32. */
  readonly key: tf.Tensor;
  /** Image index of each query / key (-1 = text): [B, Lq, 1] and [B, 1, Lk] int32. */
  readonly queryImage: tf.Tensor;
  readonly keyImage: tf.Tensor;
  /** Packed-document index of each query / key: [B, Lq, 1] and [B, 1, Lk] int32. */
  readonly queryDocument: tf.Tensor;
  readonly keyDocument: tf.Tensor;
}

export interface MaskPredicate {
  /** Readable form, e.g. `and(document, transfusion)`. */
  readonly name: string;
  /** The rule itself: may query position q attend to key position k? */
  readonly allows: (q: number, k: number, layout: SequenceLayout) => boolean;
  /** The same rule on index tensors: a bool tensor broadcastable to [B, Lq, Lk]. */
  readonly dense?: (index: MaskIndex) => tf.Tensor;
}

/** A predicate from a rule (and optionally its vectorised form), for masks beyond the built-in ones. */
export function predicate(name: string, allows: MaskPredicate['allows'], dense?: MaskPredicate['dense']): MaskPredicate {
  return { name, allows, dense };
}

/** Every position sees every position (bidirectional, as a diffusion transformer on one image). */
export const full: MaskPredicate = predicate('full', () => true, () => tf.ones([1, 1, 1], 'bool'));

/** Each position sees itself and earlier positions (a language model). */
export const causal: MaskPredicate = predicate('causal', (q, k) => k <= q, (ix) => tf.lessEqual(ix.key, ix.query));

/** Query and key are patches of the same image (text positions see nothing through this rule). */
export const sameImage: MaskPredicate = predicate(
  'sameImage',
  (q, k, layout) => layout.image[q] >= 0 && layout.image[q] === layout.image[k],
  (ix) => tf.logicalAnd(tf.greaterEqual(ix.queryImage, 0), tf.equal(ix.queryImage, ix.keyImage)),
);

/** Query and key belong to the same packed document: block-diagonal, so packed examples never see each other. */
export const document: MaskPredicate = predicate(
  'document',
  (q, k, layout) => layout.document[q] === layout.document[k],
  (ix) => tf.equal(ix.queryDocument, ix.keyDocument),
);

/** All of the predicates hold. */
export function and(...predicates: MaskPredicate[]): MaskPredicate {
  return combine('and', predicates, false, (a, b) => tf.logicalAnd(a, b));
}

/** Any of the predicates holds. */
export function or(...predicates: MaskPredicate[]): MaskPredicate {
  return combine('or', predicates, true, (a, b) => tf.logicalOr(a, b));
}

/** The predicate does not hold. */
export function not(p: MaskPredicate): MaskPredicate {
  const dense = p.dense;
  return predicate(`not(${p.name})`, (q, k, layout) => !p.allows(q, k, layout), dense && ((ix) => tf.logicalNot(dense(ix))));
}

/**
 * `and` (decisive = false: the first predicate that fails decides) or `or` (decisive = true: the first that holds).
 * The rule stops at the deciding predicate and allocates nothing: on CPU backends it runs B * L^2 times a forward.
 */
function combine(
  op: string,
  predicates: MaskPredicate[],
  decisive: boolean,
  pair: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
): MaskPredicate {
  if (predicates.length === 0) throw new RangeError(`${op}(): needs at least one predicate`);
  const rules = predicates.map((p) => p.allows);
  const denses = predicates.map((p) => p.dense);
  const allDense = denses.every((d): d is NonNullable<typeof d> => d !== undefined);
  return predicate(
    `${op}(${predicates.map((p) => p.name).join(', ')})`,
    (q, k, layout) => {
      for (const allows of rules) if (Boolean(allows(q, k, layout)) === decisive) return decisive;
      return !decisive;
    },
    allDense ? (ix) => denses.map((d) => d(ix)).reduce(pair) : undefined,
  );
}

/** Transfusion's mask (Zhou et al. 2024, sec. 3): M[i, j] = (j <= i) OR (i and j are in the same image). */
export const transfusion: MaskPredicate = { ...or(causal, sameImage), name: 'transfusion' };

/**
 * Prefix LM (Raffel et al. 2020, T5 sec. 3.2): bidirectional over the first `prefixLength` positions,
 * causal after them; equivalently k < prefixLength OR k <= q.
 */
export function prefixLM(prefixLength: number): MaskPredicate {
  check.size('prefixLM.prefixLength', prefixLength, 'positions', 0);
  return predicate(
    `prefixLM(${prefixLength})`,
    (q, k) => k < prefixLength || k <= q,
    (ix) => tf.logicalOr(tf.less(ix.key, prefixLength), tf.lessEqual(ix.key, ix.query)),
  );
}

/**
 * A mask chosen in a config, by kind; a kind defined in another file adds its config by declaration merging
 * (`declare module './masks' { interface MaskKinds { ... } }`). Packing is not a kind: a model that packs
 * documents wraps the chosen mask as `and(document, mask)`.
 */
export interface MaskKinds {
  /** Causal text, bidirectional inside each image (the paper's choice). */
  transfusion: { readonly kind: 'transfusion' };
  /** Causal everywhere, images included (the paper's Table 5 ablation). */
  causal: { readonly kind: 'causal' };
  /** Bidirectional everywhere. */
  full: { readonly kind: 'full' };
  /** Bidirectional over the first `prefixLength` positions, causal after. */
  'prefix-lm': { readonly kind: 'prefix-lm'; readonly prefixLength: number };
}

export type MaskConfig = MaskKinds[keyof MaskKinds];

export const DEFAULT_MASK: MaskConfig = { kind: 'transfusion' };

/** What a mask kind defines (src/registry.ts): the predicate of a resolved config. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface MaskKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  readonly build: (config: C) => MaskPredicate;
}

/** The attention masks a config can name. */
export const maskKinds = new KindFamily<MaskConfig, MaskKindDefinition>('mask', 'attention mask');

declare module '../registry' {
  interface KindFamilies {
    mask: typeof maskKinds;
  }
}

maskKinds.define('transfusion', { defaults: {}, build: () => transfusion, doc: "the paper's: causal text, bidirectional inside an image" }, BUILT_IN);
maskKinds.define('causal', { defaults: {}, build: () => causal, doc: 'causal everywhere (Table 5 ablation)' }, BUILT_IN);
maskKinds.define('full', { defaults: {}, build: () => full, doc: 'bidirectional everywhere' }, BUILT_IN);
maskKinds.define(
  'prefix-lm',
  {
    // No default: a prefix length only means something against a sequence length.
    defaults: {},
    required: ['prefixLength'],
    validate: (c: MaskKinds['prefix-lm'], field) => void check.size(`${field}.prefixLength`, c.prefixLength, 'positions', 0),
    build: (c: MaskKinds['prefix-lm']) => prefixLM(c.prefixLength),
    doc: 'bidirectional prefix, causal after (T5)',
  },
  BUILT_IN,
);

/**
 * The predicate a mask config names; an unknown kind fails naming `${field}.kind` and the known kinds, a field
 * the kind does not have fails naming it.
 */
export function buildMask(config: MaskConfig = DEFAULT_MASK, field = 'mask'): MaskPredicate {
  return maskKinds.make(config, field, (definition, resolved) => definition.build(resolved));
}

/** Resolve (check) a mask config once, without building its predicate. */
export function resolveMask(config: MaskConfig, field = 'mask'): MaskConfig {
  return maskKinds.resolve(config, field);
}
