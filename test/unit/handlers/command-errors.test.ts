import { describe, expect, it } from 'vitest';
import { TransactionInProgressError, WriteLimitError } from '../../../lambdas/outbox';
import { RateLimitedError } from '../../../lambdas/sample/domain/errors';
import { toHttpError } from '../../../lambdas/sample/shared/api';
import { HttpError } from '../../../lambdas/sample/shared/http';

describe('toHttpError', () => {
  it('answers a write DynamoDB refused for a limit (WriteLimitError) with 422 naming the write, not a 500', () => {
    const error = new WriteLimitError([
      { index: 0, label: 'member', kind: 'entity', code: 'ValidationError' },
    ]);

    const answer = toHttpError(error);

    expect(answer).toBeInstanceOf(HttpError);
    expect(answer).toMatchObject({ status: 422 });
    expect((answer as HttpError).detail).toContain('member');
    expect((answer as HttpError).detail).toContain('400 KB');
    expect((answer as HttpError).detail).toContain('nothing was written');
  });

  it('answers a per-member rate limit with 429 and Retry-After', () => {
    const answer = toHttpError(new RateLimitedError('too many stored answers', 42));

    expect(answer).toMatchObject({ status: 429, extra: { headers: { 'retry-after': '42' } } });
  });

  it('answers a transaction DynamoDB still reports in progress with 503 and Retry-After, not a bare 500', () => {
    const answer = toHttpError(new TransactionInProgressError('still in progress after 8 attempts'));

    expect(answer).toMatchObject({ status: 503, extra: { headers: { 'retry-after': '1' } } });
    expect((answer as HttpError).detail).toContain('Idempotency-Key');
  });

  it('leaves an unknown error a server fault', () => {
    const error = new Error('boom');

    expect(toHttpError(error)).toBe(error);
  });
});
