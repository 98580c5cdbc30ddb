import { describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../../lambdas/sample/handlers/api-routes';
import { handler } from '../../../lambdas/sample/handlers/not-found';
import { apiEvent, lambdaContext } from '../../helpers/api-events';
import { expectProblem, headerOf } from '../../helpers/problem';

const MEMBER_ID = '01JNQ8Z6Y2X3W4V5T6S7R8P9QA';

function request(method: string, path: string) {
  return handler(apiEvent(method, path, { routeKey: '$default' }), lambdaContext());
}

describe('not-found', () => {
  it('answers 405 with Allow: GET, PATCH, DELETE for PUT on a member', async () => {
    const response = await request('PUT', `/members/${MEMBER_ID}`);

    const problem = expectProblem(response, 405);
    expect(headerOf(response, 'allow')).toBe('GET, PATCH, DELETE');
    expect(problem.detail).toContain('PUT');
  });

  it.each([
    ['GET', '/members', 'POST'],
    ['DELETE', '/orders', 'POST'],
    ['GET', `/orders/${MEMBER_ID}/cancel`, 'POST'],
  ])('answers 405 for %s %s with Allow: %s', async (method, path, allow) => {
    const response = await request(method, path);

    expectProblem(response, 405);
    expect(headerOf(response, 'allow')).toBe(allow);
  });

  it.each(['/nope', '/', '/members/a/b', '/orders/x/refund'])('answers 404 for %s', async (path) => {
    const response = await request('GET', path);

    const problem = expectProblem(response, 404);
    expect(problem.detail).toContain(path);
    expect(headerOf(response, 'allow')).toBeUndefined();
  });

  it.each([
    ['GET', `/members/${MEMBER_ID}/`],
    ['PATCH', `/members/${MEMBER_ID}/`],
    ['POST', `/members/${MEMBER_ID}/`],
    ['POST', '/members/'],
    ['GET', '/members/'],
    ['POST', '/orders/'],
    ['POST', `/orders/${MEMBER_ID}/cancel/`],
  ])('answers 404 for %s %s: an HTTP API route does not match a trailing slash', async (method, path) => {
    const response = await request(method, path);

    const problem = expectProblem(response, 404);
    expect(problem.detail).toContain(path);
    expect(headerOf(response, 'allow')).toBeUndefined();
  });

  it.each([
    ['GET', `/members/${MEMBER_ID}`],
    ['POST', '/orders'],
    ['POST', `/orders/${MEMBER_ID}/cancel`],
  ])(
    'answers 404, never a 405 that allows it, for %s %s when it reaches the fallback',
    async (method, path) => {
      const response = await request(method, path);

      expectProblem(response, 404);
      expect(headerOf(response, 'allow')).toBeUndefined();
    },
  );

  it('allows on every route path exactly the methods its routes declare', async () => {
    const byPath = new Map<string, string[]>();
    for (const route of API_ROUTES) {
      const [method = '', path = ''] = route.routeKey.split(' ');
      byPath.set(path, [...(byPath.get(path) ?? []), method]);
    }

    for (const [path, methods] of byPath) {
      const response = await request('OPTIONS', path.replace('{id}', MEMBER_ID));
      expectProblem(response, 405);
      expect(headerOf(response, 'allow')).toBe(methods.join(', '));
    }
    expect(byPath.size).toBeGreaterThan(1);
  });
});
