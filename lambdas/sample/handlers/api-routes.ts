/**
 * The sample service's HTTP routes and the handler module serving each. The
 * CDK API construct and the local HTTP server both read this list, so the
 * deployed API and the local one cannot drift apart.
 */
export interface ApiRoute {
  /** HTTP API route key, e.g. `POST /members`. */
  readonly routeKey: string;
  /** File name (without extension) in `lambdas/sample/handlers/`; it exports `handler`. */
  readonly handler: string;
}

export const API_ROUTES: readonly ApiRoute[] = [
  { routeKey: 'POST /members', handler: 'create-member' },
  { routeKey: 'GET /members/{id}', handler: 'get-member' },
  { routeKey: 'PATCH /members/{id}', handler: 'update-member' },
  { routeKey: 'DELETE /members/{id}', handler: 'withdraw-member' },
  { routeKey: 'POST /orders', handler: 'place-order' },
  { routeKey: 'POST /orders/{id}/cancel', handler: 'cancel-order' },
];

/**
 * Serves every request no route matches: 405 with `Allow` for a known path
 * with another method, 404 otherwise, both as problem+json.
 */
export const FALLBACK_ROUTE: ApiRoute = { routeKey: '$default', handler: 'not-found' };
