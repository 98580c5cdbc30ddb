/** GET /members/{id}: a member, or 404. */
import { findMember, toMemberView } from '../domain/members';
import { memberResponseSchema } from '../domain/responses';
import { apiDependencies, domainContext, etag } from '../shared/api';
import { HttpError, httpHandler, jsonOf } from '../shared/http';

const deps = apiDependencies();

export const handler = httpHandler(async (request) => {
  const id = request.id();
  const member = await findMember(domainContext(request, deps), id);
  if (!member) throw new HttpError(404, 'Not Found', `member ${id} does not exist`);
  return jsonOf(memberResponseSchema, 200, toMemberView(member), { etag: etag(member.version) });
});
