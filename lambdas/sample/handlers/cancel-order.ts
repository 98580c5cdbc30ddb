/** POST /orders/{id}/cancel: cancels an open order; emits `OrderCancelled`. */
import { cancelOrder } from '../domain/orders';
import { orderResponseSchema } from '../domain/responses';
import { cancelOrderSchema } from '../domain/schemas';
import { apiDependencies, domainContext, etag, runCommand } from '../shared/api';
import { httpHandler, jsonOf } from '../shared/http';

const deps = apiDependencies();

export const handler = httpHandler(async (request) => {
  const id = request.id();
  request.json(cancelOrderSchema, { optional: true });
  return runCommand(request, deps, {
    decide: () => cancelOrder(domainContext(request, deps), id),
    respond: (order) => jsonOf(orderResponseSchema, 200, order, { etag: etag(order.version) }),
  });
});
