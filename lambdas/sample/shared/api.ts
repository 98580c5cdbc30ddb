/**
 * What every API function shares: its dependencies, built once at cold
 * start, and the command runner that commits a decision idempotently and
 * turns domain errors into HTTP answers.
 */
import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  ConditionFailedError,
  IdempotencyKeyMismatchError,
  idempotencyKey,
  OutboxLimitError,
  OutboxWriter,
  outboxLayoutFromEnv,
  TransactionConflictError,
  TransactionInProgressError,
  TransactionThrottledError,
  WriteLimitError,
} from '../../outbox';
import type { DomainContext } from '../domain/context';
import {
  ConflictError,
  DomainError,
  NotFoundError,
  RateLimitedError,
  StaleReadError,
  VersionMismatchError,
} from '../domain/errors';
import { SAMPLE_EVENTS } from '../domain/events';
import { replayProfileOf } from '../domain/members';
import type { CommandOptions, PersonalDataRef, Plan } from '../domain/plan';
import { PERSONAL_FIELDS, withPersonalFields } from '../domain/views';
import { docClient } from './clients';
import { ENV, optionalEnv, requireEnv } from './env';
import { HttpError, type HttpRequest, type HttpResponse } from './http';

/** How long a stored response answers repeats of its Idempotency-Key. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/** How often a command is decided again when what it read changed before it committed. */
const MAX_ATTEMPTS = 3;
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const CORRELATION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACE_HEADER_PATTERN = /^[A-Za-z0-9=;:._-]{1,256}$/;
const IDEMPOTENCY_WRITE = 'idempotency';

/** Dependencies of the API functions. */
export interface ApiDependencies {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly writer: OutboxWriter;
  readonly now: () => Date;
}

/**
 * Builds the API functions' dependencies from the environment (cold start).
 * The writer's table layout and pending-index shard count come from the
 * `OUTBOX_*` variables the outbox construct sets on a writer function.
 */
export function apiDependencies(client: DynamoDBDocumentClient = docClient()): ApiDependencies {
  const tableName = requireEnv(ENV.TABLE_NAME);
  const source = optionalEnv(ENV.EVENT_SOURCE, 'com.example.members');
  return {
    client,
    tableName,
    writer: new OutboxWriter({
      client,
      tableName,
      source,
      layout: outboxLayoutFromEnv(process.env),
      catalogue: SAMPLE_EVENTS,
    }),
    now: () => new Date(),
  };
}

/** The domain context of a request: storage, clock, and the ids that trace it. */
export function domainContext(request: HttpRequest, deps: ApiDependencies): DomainContext {
  const correlationId = request.header('x-correlation-id');
  const traceHeader = request.header('x-amzn-trace-id');
  return {
    client: deps.client,
    tableName: deps.tableName,
    now: deps.now,
    correlationId:
      correlationId && CORRELATION_ID_PATTERN.test(correlationId) ? correlationId : request.requestId,
    ...(traceHeader && TRACE_HEADER_PATTERN.test(traceHeader) ? { traceHeader } : {}),
  };
}

/** A version as an ETag. */
export function etag(version: number): string {
  return `"${version}"`;
}

/**
 * The version in `If-Match`: `3` or `"3"`. Missing is 428 (the update would
 * otherwise overwrite blindly); malformed is 400.
 */
export function expectedVersion(request: HttpRequest): number {
  const header = request.header('if-match');
  if (header === undefined || header.trim() === '') {
    throw new HttpError(428, 'Precondition Required', 'send If-Match with the version you last read');
  }
  const match = /^\s*(?:W\/)?(?:"([1-9][0-9]{0,11})"|([1-9][0-9]{0,11}))\s*$/.exec(header);
  const version = match?.[1] ?? match?.[2];
  if (!version) {
    throw new HttpError(400, 'Invalid If-Match', 'If-Match must be a version number, e.g. "3"');
  }
  return Number(version);
}

/**
 * An idempotency record: the first answer to a key. An answer that shows a
 * member's personal fields is stored without them, with `personal` pointing
 * at the member item that keeps them until the record expires (and loses
 * them when the member withdraws).
 */
interface StoredResponse {
  readonly fingerprint: string;
  readonly response: HttpResponse;
  readonly personal?: PersonalDataRef;
  readonly expiresAt: number;
}

/** What `runCommand` needs: how to decide, and how to answer with the result. */
export interface Command<T> {
  /**
   * Decides the writes and events. `options.reservedActions` transaction
   * actions are taken by the runner; `options.replayExpiresAt` is set when
   * the answer is stored for an Idempotency-Key.
   */
  readonly decide: (options: CommandOptions) => Promise<Plan<T>> | Plan<T>;
  readonly respond: (result: T) => HttpResponse;
}

/**
 * Runs a command: decides it, commits its writes and events in one
 * transaction, and answers. With an `Idempotency-Key` the answer is stored in
 * the same transaction, so a repeat gets the first answer and writes nothing,
 * and the same key with another request gets 422.
 */
export async function runCommand<T>(
  request: HttpRequest,
  deps: ApiDependencies,
  command: Command<T>,
): Promise<HttpResponse> {
  const clientKey = request.header('idempotency-key');
  if (clientKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(clientKey)) {
    throw new HttpError(
      400,
      'Invalid Idempotency-Key',
      'Idempotency-Key must be 1-255 visible ASCII characters',
    );
  }
  const record = clientKey === undefined ? undefined : idempotencyKey('api', clientKey);
  const fingerprint = requestFingerprint(request);
  if (record) {
    const stored = await readStored(deps, record);
    if (stored) return replay(request, deps, stored, fingerprint);
  }

  for (let attempt = 1; ; attempt++) {
    const expiresAt = Math.floor(deps.now().getTime() / 1000) + IDEMPOTENCY_TTL_SECONDS;
    let plan: Plan<T>;
    try {
      plan = await command.decide(
        record ? { reservedActions: 1, replayExpiresAt: expiresAt } : { reservedActions: 0 },
      );
    } catch (error) {
      if (error instanceof StaleReadError && attempt < MAX_ATTEMPTS) continue;
      throw toHttpError(error);
    }
    const response = command.respond(plan.result);
    const writes = [...plan.writes];
    if (record) {
      writes.push({
        label: IDEMPOTENCY_WRITE,
        Put: {
          Item: {
            ...record,
            fingerprint,
            ...storedAnswer(response, plan.personal),
            createdAt: deps.now().toISOString(),
            expiresAt,
          },
          // TTL deletes lazily: an expired record still exists and may be replaced.
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': Math.floor(deps.now().getTime() / 1000) },
        },
      });
    }
    try {
      // The token makes the SDK's own retries of this exact transaction
      // idempotent; each attempt is a different transaction, hence its own token.
      const token = record ? { idempotencyKey: `${record.pk}#${attempt}` } : {};
      await deps.writer.write({ writes, events: plan.events, ...token });
      return response;
    } catch (error) {
      const again = attempt < MAX_ATTEMPTS;
      if (error instanceof ConditionFailedError) {
        if (record && error.failureOf(IDEMPOTENCY_WRITE))
          return replayAfterRace(request, deps, record, fingerprint);
        const explained = plan.explain(error);
        if (explained instanceof StaleReadError && again) continue;
        throw toHttpError(explained);
      }
      if ((error instanceof TransactionConflictError || error instanceof TransactionThrottledError) && again)
        continue;
      if (
        record &&
        (error instanceof IdempotencyKeyMismatchError || error instanceof TransactionInProgressError)
      ) {
        return replayAfterRace(request, deps, record, fingerprint);
      }
      throw toHttpError(error);
    }
  }
}

/** Maps a domain or outbox error to the client's answer; anything unknown stays a server fault. */
export function toHttpError(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  if (error instanceof NotFoundError) return new HttpError(404, 'Not Found', error.message);
  if (error instanceof VersionMismatchError) {
    return new HttpError(412, 'Precondition Failed', error.message, {
      headers: { etag: etag(error.actual) },
    });
  }
  if (error instanceof ConflictError) return new HttpError(409, 'Conflict', error.message);
  if (error instanceof StaleReadError || error instanceof TransactionConflictError) {
    return new HttpError(409, 'Conflict', 'the resource changed concurrently; read it again and retry');
  }
  if (error instanceof TransactionThrottledError) {
    return new HttpError(503, 'Service Unavailable', 'the service is busy; retry shortly', {
      headers: { 'retry-after': '1' },
    });
  }
  if (error instanceof TransactionInProgressError) {
    // The writer already resent the transaction while DynamoDB reported it in
    // progress; past that bound its outcome is unknown, so the client must not
    // take it for a failure and write anew without a key.
    return new HttpError(
      503,
      'Service Unavailable',
      'the write is still in progress; retry with the same Idempotency-Key to learn its outcome',
      { headers: { 'retry-after': '1' } },
    );
  }
  if (error instanceof RateLimitedError) {
    return new HttpError(429, 'Too Many Requests', error.message, {
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    });
  }
  if (error instanceof OutboxLimitError) {
    return new HttpError(422, 'Unprocessable Content', `the request is too large to store: ${error.message}`);
  }
  if (error instanceof WriteLimitError) {
    // The backstop for a limit only DynamoDB could check (the domain's own
    // bounds should have refused first): the same request fails again, so it
    // is the client's to change, not a server fault.
    return new HttpError(
      422,
      'Unprocessable Content',
      `DynamoDB refused to store the result (${error.failures.map((failure) => failure.label).join(', ')}): ` +
        'it would exceed a storage limit, such as the 400 KB item size; nothing was written',
    );
  }
  if (error instanceof DomainError) return new HttpError(409, 'Conflict', error.message);
  return error;
}

function requestFingerprint(request: HttpRequest): string {
  return createHash('sha256')
    .update(request.method)
    .update('\u0000')
    .update(request.path)
    .update('\u0000')
    .update(request.header('if-match') ?? '')
    .update('\u0000')
    .update(request.bodyText())
    .digest('hex');
}

async function readStored(
  deps: ApiDependencies,
  key: { pk: string; sk: string },
): Promise<StoredResponse | undefined> {
  const output = await deps.client.send(
    new GetCommand({ TableName: deps.tableName, Key: key, ConsistentRead: true }),
  );
  const item = output.Item as StoredResponse | undefined;
  if (!item || item.expiresAt < Math.floor(deps.now().getTime() / 1000)) return undefined;
  return item;
}

/** The answer as stored: without the personal fields, which stay on the member item. */
function storedAnswer(
  response: HttpResponse,
  personal: PersonalDataRef | undefined,
): Pick<StoredResponse, 'response' | 'personal'> {
  if (!personal || typeof response.body !== 'string') return { response };
  const body = JSON.parse(response.body) as Record<string, unknown>;
  for (const field of PERSONAL_FIELDS) delete body[field];
  return { response: { ...response, body: JSON.stringify(body) }, personal };
}

/**
 * The stored answer again, with the personal fields it had while the member
 * keeps them; after a withdrawal, the same answer without them.
 */
async function replay(
  request: HttpRequest,
  deps: ApiDependencies,
  stored: StoredResponse,
  fingerprint: string,
): Promise<HttpResponse> {
  if (stored.fingerprint !== fingerprint) {
    throw new HttpError(
      422,
      'Idempotency-Key reused',
      'this Idempotency-Key was already used for a different request; use a new key',
    );
  }
  let body = stored.response.body;
  if (stored.personal && typeof body === 'string') {
    const { memberId, version } = stored.personal;
    const profile = await replayProfileOf(domainContext(request, deps), memberId, version);
    if (profile)
      body = JSON.stringify(withPersonalFields(JSON.parse(body) as Record<string, unknown>, profile));
  }
  return {
    ...stored.response,
    ...(body === undefined ? {} : { body }),
    headers: { ...stored.response.headers, 'idempotent-replayed': 'true' },
  };
}

/** Another request with the same key committed first, or is committing now. */
async function replayAfterRace(
  request: HttpRequest,
  deps: ApiDependencies,
  key: { pk: string; sk: string },
  fingerprint: string,
): Promise<HttpResponse> {
  const stored = await readStored(deps, key);
  if (stored) return replay(request, deps, stored, fingerprint);
  throw new HttpError(409, 'Conflict', 'a request with this Idempotency-Key is in progress; retry shortly');
}
