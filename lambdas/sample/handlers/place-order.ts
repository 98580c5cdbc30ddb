/** POST /orders: places an order for an active member; emits `OrderPlaced`. */
import { placeOrder } from '../domain/orders';
import { orderResponseSchema } from '../domain/responses';
import { placeOrderSchema } from '../domain/schemas';
import { apiDependencies, domainContext, etag, runCommand } from '../shared/api';
import { httpHandler, jsonOf } from '../shared/http';

const deps = apiDependencies();

export const handler = httpHandler(async (request) => {
  const input = request.json(placeOrderSchema);
  return runCommand(request, deps, {
    decide: () => placeOrder(domainContext(request, deps), input),
    respond: (order) =>
      jsonOf(orderResponseSchema, 201, order, { location: `/orders/${order.id}`, etag: etag(order.version) }),
  });
});
