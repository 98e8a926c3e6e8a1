/**
 * A minimal module system in the spirit of torch.nn.Module (docs/ARCHITECTURE.md, 'Parameter names'): parameters
 * live in a tree of modules and are named by dotted paths (`layers.0.attn.wq`), so a state dict reads the same
 * here, in PyTorch and in a safetensors file.
 *
 * Written here rather than taken from tfjs-layers because layers names weights globally (`dense_1/kernel`),
 * owns its own training loop and cannot train attention (no Einsum gradient in tfjs).
 */
import { tf } from '../engine/tf';

export type StateDict = Record<string, tf.Tensor>;

export abstract class Module {
  /** Train mode enables dropout and other train-only behaviour; `eval()` turns it off. */
  training = true;
  private readonly ownParams = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();

  /** Register a parameter; the module takes ownership of `initial` (it is disposed once copied). */
  protected param(name: string, initial: tf.Tensor, trainable = true): tf.Variable {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: '${name}' registered twice`);
    const v = tf.variable(initial, trainable);
    initial.dispose();
    this.ownParams.set(name, v);
    return v;
  }

  /** Register a child module under `name` (use `layers.0`, `layers.1` ... for lists). */
  protected module<M extends Module>(name: string, child: M): M {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: '${name}' registered twice`);
    this.children.set(name, child);
    return child;
  }

  /** Direct children, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** Every parameter with its dotted path, depth-first in registration order. */
  namedParameters(prefix = ''): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    for (const [n, v] of this.ownParams) out.push([prefix + n, v]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  trainableParameters(): tf.Variable[] {
    return this.parameters().filter((v) => v.trainable);
  }

  /** Number of scalar parameters (trainable and not). */
  numParameters(): number {
    return this.parameters().reduce((n, v) => n + v.size, 0);
  }

  /** The live parameter tensors by dotted name (not copies: clone them to keep a snapshot). */
  stateDict(): StateDict {
    return Object.fromEntries(this.namedParameters());
  }

  /**
   * Copy values into the parameters. Shapes must match exactly; missing and unexpected names are errors
   * unless `strict` is false (then they are ignored and reported in the return value).
   */
  loadStateDict(state: StateDict, options: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const strict = options.strict ?? true;
    const own = new Map(this.namedParameters());
    const missing = [...own.keys()].filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      const parts = [];
      if (missing.length) parts.push(`missing: ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected: ${unexpected.join(', ')}`);
      throw new Error(`loadStateDict(${this.constructor.name}): ${parts.join('; ')}`);
    }
    for (const [name, v] of own) {
      const t = state[name];
      if (!t) continue;
      if (t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) {
        throw new Error(`loadStateDict(${this.constructor.name}): '${name}' expected shape [${v.shape}], received [${t.shape}]`);
      }
    }
    for (const [name, v] of own) {
      const t = state[name];
      if (t) v.assign(t.dtype === v.dtype ? t : tf.tidy(() => t.cast(v.dtype)));
    }
    return { missing, unexpected };
  }

  /** Set train (true) or eval (false) mode on this module and every descendant. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Free every parameter of the tree. */
  dispose(): void {
    for (const v of this.ownParams.values()) v.dispose();
    for (const c of this.children.values()) c.dispose();
  }

  /** One line for this module in `summary()`; subclasses add their hyper-parameters. */
  describe(): string {
    return this.constructor.name;
  }

  /** An indented architecture tree with parameter counts, like printing a torch module. */
  summary(indent = '', name = ''): string {
    const count = this.numParameters();
    const head = `${indent}${name ? name + ': ' : ''}${this.describe()}  (${count.toLocaleString('en-US')} params)`;
    const lines = [head];
    for (const [n, v] of this.ownParams) lines.push(`${indent}  ${n} [${v.shape.join(', ')}]${v.trainable ? '' : ' (frozen)'}`);
    for (const [n, c] of this.children) lines.push(c.summary(indent + '  ', n));
    return lines.join('\n');
  }
}
