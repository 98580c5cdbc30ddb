/** POST /members: registers a member; emits `MemberRegistered`. */
import { registerMember } from '../domain/members';
import { memberResponseSchema } from '../domain/responses';
import { registerMemberSchema } from '../domain/schemas';
import { apiDependencies, domainContext, etag, runCommand } from '../shared/api';
import { httpHandler, jsonOf } from '../shared/http';

const deps = apiDependencies();

export const handler = httpHandler(async (request) => {
  const input = request.json(registerMemberSchema);
  return runCommand(request, deps, {
    decide: (options) => registerMember(domainContext(request, deps), input, options),
    respond: (member) =>
      jsonOf(memberResponseSchema, 201, member, {
        location: `/members/${member.id}`,
        etag: etag(member.version),
      }),
  });
});
