/**
 * The one place where stored items become what the API answers with. Each
 * view copies the documented fields by name (README, "The API", resource
 * fields), so a storage attribute (`pk`, `entityType`, `openOrderIds`,
 * `replayProfiles`, ...) never leaks into a response, whatever the item holds.
 */

/** Fields of a member in a response, in answer order (README: "Response fields"). */
export const MEMBER_FIELDS = [
  'id',
  'status',
  'version',
  'email',
  'name',
  'openOrders',
  'createdAt',
  'updatedAt',
  'withdrawnAt',
] as const;

/** Fields of an order in a response, in answer order (README: "Response fields"). */
export const ORDER_FIELDS = [
  'id',
  'memberId',
  'items',
  'total',
  'status',
  'version',
  'createdAt',
  'updatedAt',
  'cancelledAt',
  'cancellationReason',
] as const;

/** Fields of an order line in a response. */
export const ORDER_LINE_FIELDS = ['sku', 'quantity', 'unitPrice'] as const;

/** Fields of a member that are personal data: erased on withdrawal, never kept in a stored response. */
export const PERSONAL_FIELDS = ['email', 'name'] as const;

/** A personal field of a member. */
export type PersonalField = (typeof PERSONAL_FIELDS)[number];

/** A member as the API shows it. */
export interface MemberView {
  readonly id: string;
  readonly status: 'active' | 'withdrawn';
  readonly version: number;
  readonly email?: string;
  readonly name?: string;
  readonly openOrders: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly withdrawnAt?: string;
}

/** One line of an order as the API shows it. */
export interface OrderLineView {
  readonly sku: string;
  readonly quantity: number;
  readonly unitPrice: number;
}

/** An order as the API shows it. */
export interface OrderView {
  readonly id: string;
  readonly memberId: string;
  readonly items: readonly OrderLineView[];
  readonly total: number;
  readonly status: 'open' | 'cancelled';
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly cancelledAt?: string;
  readonly cancellationReason?: string;
}

/** What a member view is built from: a stored member item, or the state a command decided. */
export interface MemberSource {
  readonly id: string;
  readonly status: 'active' | 'withdrawn';
  readonly version: number;
  readonly email?: string | undefined;
  readonly name?: string | undefined;
  readonly openOrderIds?: ReadonlySet<string> | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly withdrawnAt?: string | undefined;
}

/** What an order view is built from: a stored order item, or the state a command decided. */
export interface OrderSource {
  readonly id: string;
  readonly memberId: string;
  readonly items: readonly OrderLineView[];
  readonly total: number;
  readonly status: 'open' | 'cancelled';
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly cancelledAt?: string | undefined;
  readonly cancellationReason?: string | undefined;
}

/** Copies `fields` of `source` that are defined, in the order of `fields`. */
function pick<T>(source: Record<string, unknown>, fields: readonly string[]): T {
  const view: Record<string, unknown> = {};
  for (const field of fields) {
    if (source[field] !== undefined) view[field] = source[field];
  }
  return view as T;
}

/** The response view of a member. */
export function toMemberView(member: MemberSource): MemberView {
  return pick<MemberView>({ ...member, openOrders: member.openOrderIds?.size ?? 0 }, MEMBER_FIELDS);
}

/** The response view of an order. */
export function toOrderView(order: OrderSource): OrderView {
  return pick<OrderView>(
    {
      ...order,
      items: order.items.map((line) =>
        pick<OrderLineView>(line as unknown as Record<string, unknown>, ORDER_LINE_FIELDS),
      ),
    },
    ORDER_FIELDS,
  );
}

/**
 * A member view with personal fields put back, in the documented order: how
 * a stored answer, kept without personal data, is completed on replay.
 */
export function withPersonalFields(
  view: Record<string, unknown>,
  personal: Partial<Record<PersonalField, string>>,
): Record<string, unknown> {
  return pick<Record<string, unknown>>({ ...view, ...personal }, MEMBER_FIELDS);
}
