/** Assertions on the API's answers: JSON bodies and problem+json (RFC 9457) errors. */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { expect } from 'vitest';

/** The body of a problem+json response. */
export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly { readonly field: string; readonly message: string }[];
}

/** A response header by name, case-insensitively. */
export function headerOf(response: APIGatewayProxyStructuredResultV2, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(response.headers ?? {})) {
    if (key.toLowerCase() === wanted) return String(value);
  }
  return undefined;
}

/** The parsed JSON body of a response. */
export function jsonBody<T = Record<string, unknown>>(response: APIGatewayProxyStructuredResultV2): T {
  expect(typeof response.body).toBe('string');
  return JSON.parse(String(response.body)) as T;
}

/**
 * Asserts that a response is problem+json with the given status and a
 * non-empty `detail`, and returns its body for further assertions.
 */
export function expectProblem(response: APIGatewayProxyStructuredResultV2, status: number): ProblemBody {
  expect(response.statusCode).toBe(status);
  expect(headerOf(response, 'content-type')).toBe('application/problem+json');
  const body = jsonBody<ProblemBody>(response);
  expect(body.status).toBe(status);
  expect(body.title).toEqual(expect.any(String));
  expect(body.detail).toEqual(expect.any(String));
  expect(body.detail.length).toBeGreaterThan(0);
  return body;
}
