/**
 * The deployment stages and the one place that turns `-c stage=...` into one.
 */

/** Every stage the app can synthesize, in the order the error message lists them. */
export const STAGES = ['dev', 'prod'] as const;

/** A deployment stage: `dev` (disposable, with the tap queue) or `prod` (retained data). */
export type Stage = (typeof STAGES)[number];

/** Thrown when the `stage` context value is not one of {@link STAGES}. */
export class InvalidStageError extends Error {
  override readonly name = 'InvalidStageError';
  constructor(readonly value: unknown) {
    super(
      `invalid stage ${JSON.stringify(value) ?? String(value)}: expected one of ${STAGES.join(', ')} ` +
        `(pass -c stage=${STAGES.join('|')})`,
    );
  }
}

/** True when `value` names a stage. */
export function isStage(value: unknown): value is Stage {
  return typeof value === 'string' && (STAGES as readonly string[]).includes(value);
}

/**
 * The stage named by `value` (a context value, so usually a string from the
 * CLI). Anything else, including a missing value, throws
 * {@link InvalidStageError}; the caller decides whether a default applies.
 */
export function parseStage(value: unknown): Stage {
  if (!isStage(value)) throw new InvalidStageError(value);
  return value;
}
