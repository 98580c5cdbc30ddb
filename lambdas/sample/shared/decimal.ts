/**
 * Exact decimal views of numbers: what a JSON number literal says, what a
 * JavaScript number holds (its shortest round-trip decimal, `String(n)`),
 * and whether DynamoDB can store it. No floating-point arithmetic: digits
 * and exponents only, so "at most two decimals" means exactly that.
 */

/** A finite decimal number: `(negative ? -1 : 1) × digits × 10^exponent`. */
export interface Decimal {
  readonly negative: boolean;
  /** Significant digits without leading or trailing zeros; empty for zero. */
  readonly digits: string;
  /** Power of ten of the last digit. */
  readonly exponent: number;
}

/** DynamoDB numbers: at most 38 significant digits (DynamoDB developer guide, "Number" data type). */
export const DYNAMODB_MAX_DIGITS = 38;
/** Smallest positive magnitude DynamoDB stores: 1E-130 (same source). */
export const DYNAMODB_MIN_ADJUSTED_EXPONENT = -130;
/** Largest magnitude DynamoDB stores: 9.9999999999999999999999999999999999999E+125 (same source). */
export const DYNAMODB_MAX_ADJUSTED_EXPONENT = 125;

const NUMBER_PATTERN = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** The decimal a number literal (JSON or `String(n)`) denotes; undefined for anything else. */
export function parseDecimal(text: string): Decimal | undefined {
  const match = NUMBER_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const [, sign, whole = '', fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText);
  if (!Number.isSafeInteger(exponent)) return undefined;
  const all = `${whole}${fraction}`.replace(/^0+/, '');
  const digits = all.replace(/0+$/, '');
  if (digits === '') return { negative: false, digits: '', exponent: 0 };
  return {
    negative: sign === '-',
    digits,
    exponent: exponent - fraction.length + (all.length - digits.length),
  };
}

/** The decimal a JavaScript number holds, as `String(n)` writes it; undefined for NaN and infinities. */
export function decimalOf(value: number): Decimal | undefined {
  if (!Number.isFinite(value)) return undefined;
  return parseDecimal(String(value));
}

/** True when both are the same number. */
export function sameDecimal(a: Decimal, b: Decimal): boolean {
  return (
    a.digits === b.digits && (a.digits === '' || (a.negative === b.negative && a.exponent === b.exponent))
  );
}

/** Digits after the decimal point, e.g. 2 for 12.34, 0 for 1200, 9 for 1e-9. */
export function decimalPlaces(value: Decimal): number {
  return Math.max(0, -value.exponent);
}

/**
 * Why DynamoDB would refuse to store this number, or undefined when it
 * stores it exactly: more than 38 significant digits, or a magnitude outside
 * 1E-130 .. 9.99...E+125 (which DynamoDB answers with a `ValidationException`
 * for the whole request).
 */
export function dynamoDbNumberProblem(value: Decimal): string | undefined {
  if (value.digits === '') return undefined;
  if (value.digits.length > DYNAMODB_MAX_DIGITS) {
    return `has ${value.digits.length} significant digits; DynamoDB stores at most ${DYNAMODB_MAX_DIGITS}`;
  }
  // The exponent of the first digit: 1.5E+3 has 3.
  const adjusted = value.exponent + value.digits.length - 1;
  if (adjusted < DYNAMODB_MIN_ADJUSTED_EXPONENT) {
    return 'is too close to zero; DynamoDB stores magnitudes from 1E-130';
  }
  if (adjusted > DYNAMODB_MAX_ADJUSTED_EXPONENT) {
    return 'is too large; DynamoDB stores magnitudes below 1E+126';
  }
  return undefined;
}
