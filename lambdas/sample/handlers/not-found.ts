/**
 * The `$default` route: answers every request no route matched, as
 * problem+json. A known path with another method is 405 with `Allow`.
 *
 * A path matches a route exactly as API Gateway matches it: an HTTP API
 * route `GET /members/{id}` does not match `/members/<id>/` (unlike a REST
 * API, an HTTP API does not ignore a trailing slash; Powertools for AWS
 * Lambda (Python) checks this against AWS in
 * tests/e2e/event_handler/test_paths_ending_with_slash.py: `POST /todos/`
 * on an HTTP API with only `POST /todos` is 404). Such a request reaches
 * `$default` and is 404 here too, like any other unknown path.
 */

import { httpHandler, problem } from '../shared/http';
import { API_ROUTES } from './api-routes';

interface PathRule {
  readonly path: string;
  readonly pattern: RegExp;
  readonly methods: string[];
}

/** Route paths as patterns: `{id}` matches one non-empty path segment; nothing else is optional. */
const RULES: PathRule[] = [];
for (const route of API_ROUTES) {
  const [method = '', path = ''] = route.routeKey.split(' ');
  const rule = RULES.find((candidate) => candidate.path === path);
  if (rule) rule.methods.push(method);
  else
    RULES.push({
      path,
      pattern: new RegExp(`^${path.replace(/\{[^/]+\}/g, '[^/]+')}$`),
      methods: [method],
    });
}

export const handler = httpHandler(async (request) => {
  const rule = RULES.find((candidate) => candidate.pattern.test(request.path));
  // A route that allows this method would have taken the request; if one
  // did not (a path form the gateway routes elsewhere), a 405 naming the
  // very method refused would be a contradiction: the path is unknown.
  if (rule && !rule.methods.includes(request.method)) {
    return problem(
      405,
      `${request.method} is not allowed on ${request.path}; use ${rule.methods.join(', ')}`,
      {
        headers: { allow: rule.methods.join(', ') },
      },
    );
  }
  return problem(404, `no resource at ${request.path}`);
});
