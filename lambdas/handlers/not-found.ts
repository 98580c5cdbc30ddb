/**
 * The `$default` route: answers every request no route matched, as
 * problem+json. A known path with another method is 405 with `Allow`.
 */

import { httpHandler, problem } from '../shared/http';
import { API_ROUTES } from './api-routes';

interface PathRule {
  readonly path: string;
  readonly pattern: RegExp;
  readonly methods: string[];
}

/** Route paths as patterns: `{id}` matches one path segment. */
const RULES: PathRule[] = [];
for (const route of API_ROUTES) {
  const [method = '', path = ''] = route.routeKey.split(' ');
  const rule = RULES.find((candidate) => candidate.path === path);
  if (rule) rule.methods.push(method);
  else
    RULES.push({
      path,
      pattern: new RegExp(`^${path.replace(/\{[^/]+\}/g, '[^/]+')}/?$`),
      methods: [method],
    });
}

export const handler = httpHandler(async (request) => {
  const rule = RULES.find((candidate) => candidate.pattern.test(request.path));
  if (rule) {
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
