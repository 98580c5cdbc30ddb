/**
 * DELETE /members/{id}: the member withdraws. Personal data is erased and
 * every open order cancelled in the same transaction; emits `MemberWithdrawn`
 * and one `OrderCancelled` per order.
 */
import { withdrawMember } from '../domain/members';
import { memberResponseSchema } from '../domain/responses';
import { apiDependencies, domainContext, etag, runCommand } from '../shared/api';
import { httpHandler, jsonOf } from '../shared/http';

const deps = apiDependencies();

export const handler = httpHandler(async (request) => {
  const id = request.id();
  return runCommand(request, deps, {
    decide: (options) => withdrawMember(domainContext(request, deps), id, options),
    respond: (member) => jsonOf(memberResponseSchema, 200, member, { etag: etag(member.version) }),
  });
});
