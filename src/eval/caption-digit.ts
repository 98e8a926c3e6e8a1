/**
 * Which digit a generated caption names, for image-to-text accuracy: the caption is right when it names the
 * image's digit and nothing else. Words ("seven", any case) and numerals ("7") both count, matched as whole
 * words so "someone" is not "one" and "seventeen" is not "seven"; a numeral of several digits ("17") names a
 * number, not a digit, so it makes the caption ambiguous.
 */
import { DIGIT_WORDS } from '../data/mnist';

const WORD_DIGIT: ReadonlyMap<string, number> = new Map(DIGIT_WORDS.map((w, d) => [w, d]));

/** What a caption names: the distinct digits, and whether anything else numeric (a longer numeral) appears. */
export interface NamedDigits {
  /** Distinct digits named, ascending. */
  readonly digits: number[];
  /** Numerals of two or more digits ("17", "007"), which name no single digit. */
  readonly otherNumbers: string[];
}

export function namedDigits(caption: string): NamedDigits {
  const digits = new Set<number>();
  const otherNumbers: string[] = [];
  // Letters and numerals as separate runs: "a7" and "7s" still name 7, while "seventeen" stays one word.
  for (const token of caption.toLowerCase().match(/[a-z]+|[0-9]+/g) ?? []) {
    if (/^[0-9]+$/.test(token)) {
      if (token.length === 1) digits.add(Number(token));
      else otherNumbers.push(token);
    } else if (WORD_DIGIT.has(token)) {
      digits.add(WORD_DIGIT.get(token)!);
    }
  }
  return { digits: [...digits].sort((a, b) => a - b), otherNumbers };
}

/** The one digit a caption names, or null when it names none, several, or a longer number besides. */
export function captionDigit(caption: string): number | null {
  const { digits, otherNumbers } = namedDigits(caption);
  return digits.length === 1 && otherNumbers.length === 0 ? digits[0] : null;
}

/** Fraction of captions whose `captionDigit` equals the label at the same index. */
export function captionAccuracy(captions: readonly string[], labels: ArrayLike<number>): number {
  if (captions.length !== labels.length) throw new RangeError(`captionAccuracy: ${captions.length} captions but ${labels.length} labels`);
  if (captions.length === 0) throw new RangeError('captionAccuracy: no captions to score');
  let correct = 0;
  captions.forEach((c, i) => (correct += captionDigit(c) === labels[i] ? 1 : 0));
  return correct / captions.length;
}
