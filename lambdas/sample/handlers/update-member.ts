/** PATCH /members/{id} with If-Match: updates the profile; emits `MemberProfileUpdated`. */
import { updateMemberProfile } from '../domain/members';
import { memberResponseSchema } from '../domain/responses';
import { updateProfileSchema } from '../domain/schemas';
import { apiDependencies, domainContext, etag, expectedVersion, runCommand } from '../shared/api';
import { httpHandler, jsonOf } from '../shared/http';

const deps = apiDependencies();

export const handler = httpHandler(async (request) => {
  const id = request.id();
  const input = request.json(updateProfileSchema);
  const version = expectedVersion(request);
  return runCommand(request, deps, {
    decide: (options) => updateMemberProfile(domainContext(request, deps), id, version, input, options),
    respond: (member) => jsonOf(memberResponseSchema, 200, member, { etag: etag(member.version) }),
  });
});
