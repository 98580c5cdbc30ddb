/**
 * The CLI's errors and how each reaches the operator: a short message on
 * stderr and an exit code, never a stack trace. AWS errors are recognised by
 * class or name (access denied, rejected or missing credentials, missing
 * region or resource, unreachable endpoint) and explained with the IAM
 * permission the command needs.
 */

/** Exit codes; the README lists them. */
export const EXIT = {
  ok: 0,
  /** Something was left undone: an event unpublished or not found; or an unexpected failure. */
  incomplete: 1,
  /** Wrong arguments. */
  usage: 2,
  /** AWS refused or could not be reached: permissions, credentials, missing resources, endpoint down. */
  aws: 3,
  /** Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;

/** Base class of the CLI's own errors. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Wrong arguments; exit code 2 with a hint where to find the usage. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(
    message: string,
    /** The command whose help the hint points to. */
    readonly command?: string,
  ) {
    super(message, EXIT.usage);
  }
}

/** The target could not be resolved or reached (a stale local file, a stack without outputs); exit code 3. */
export class TargetError extends CliError {
  override name = 'TargetError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.aws, options);
  }
}

/** The operator pressed Ctrl-C during a read; exit code 130. */
export class InterruptedError extends CliError {
  override name = 'InterruptedError';
  constructor() {
    super('interrupted', EXIT.interrupted);
  }
}

/** The AWS call an error came from, as the SDK's middleware saw it. */
export interface FailedOperation {
  /** IAM service prefix: `dynamodb`, `events`, `sqs`, `cloudformation`. */
  readonly service: string;
  /** API operation, e.g. `Scan`, `PutEvents`. */
  readonly operation: string;
  /** The endpoint the client was aimed at, when set explicitly. */
  readonly endpoint?: string;
}

const operations = new WeakMap<object, FailedOperation>();

/** The client shape the annotation needs (any SDK v3 client). */
interface AnnotatableClient {
  readonly middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

/**
 * Makes every error a client throws remember which operation failed, so an
 * access-denied message can name the IAM action even when the service's
 * message does not.
 */
export function annotateOperations<C>(client: C, service: string, endpoint?: string): C {
  (client as unknown as AnnotatableClient).middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        if (typeof error === 'object' && error !== null && !operations.has(error)) {
          const operation = (context.commandName ?? 'unknown').replace(/Command$/, '');
          operations.set(error, { service, operation, ...(endpoint ? { endpoint } : {}) });
        }
        throw error;
      }
    },
    { step: 'initialize', name: 'outboxCliOperation' },
  );
  return client;
}

/** The operation an error came from, when a client annotated it. */
export function failedOperation(error: unknown): FailedOperation | undefined {
  return typeof error === 'object' && error !== null ? operations.get(error) : undefined;
}

/** IAM actions differ from operation names in one case the CLI meets: transactions need the item actions. */
function iamAction(operation: FailedOperation): string {
  if (operation.service === 'dynamodb' && operation.operation === 'TransactWriteItems') {
    return 'dynamodb:UpdateItem';
  }
  return `${operation.service}:${operation.operation}`;
}

/** What the operator is told about an error. */
export interface ErrorReport {
  /** Lines for stderr; the first says what happened. */
  readonly lines: readonly string[];
  readonly exitCode: number;
}

const ACCESS_DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'AuthorizationError',
  'UnauthorizedOperation',
  'NotAuthorizedForSourceException',
]);
const CREDENTIALS_REJECTED = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidAccessKeyId',
]);
const NOT_FOUND = new Set([
  'ResourceNotFoundException',
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
  'StackNotFoundException',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

function nameOf(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const candidate = error as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof candidate.name === 'string' && candidate.name !== 'Error') return candidate.name;
  if (typeof candidate.Code === 'string') return candidate.Code;
  return typeof candidate.code === 'string' ? candidate.code : '';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The network error code of an error or of one of its causes (Node reports several per address). */
function networkCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 3) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const found = networkCode(inner, depth + 1);
      if (found) return found;
    }
  }
  return networkCode((error as { cause?: unknown }).cause, depth + 1);
}

/**
 * The action and resource an IAM denial names: "User: arn:... is not
 * authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:...".
 */
export function parseDenial(message: string): { action?: string; resource?: string; principal?: string } {
  const action = /not authorized to perform:?\s+([A-Za-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)?.[1];
  const resource = /on resource:?\s+(\S+?)(?:\s|$|,| because)/.exec(message)?.[1];
  const principal = /User:?\s+(arn:\S+)/.exec(message)?.[1];
  return {
    ...(action ? { action } : {}),
    ...(resource ? { resource: resource.replace(/[.;]$/, '') } : {}),
    ...(principal ? { principal } : {}),
  };
}

/** What the command needs, for the hint below an access error. */
export interface PermissionHint {
  /** The command, e.g. `stats`. */
  readonly command: string;
  /** `action on resource` lines. */
  readonly permissions: readonly string[];
}

/** Turns any error into what the operator reads and the exit code. Never includes a stack trace. */
export function reportError(error: unknown, hint?: PermissionHint): ErrorReport {
  if (error instanceof UsageError) {
    const help = error.command ? `outbox ${error.command} --help` : 'outbox --help';
    return { lines: [`error: ${error.message}`, `Run '${help}' for usage.`], exitCode: error.exitCode };
  }
  if (error instanceof CliError) return { lines: [`error: ${error.message}`], exitCode: error.exitCode };

  const name = nameOf(error);
  const message = messageOf(error);
  const operation = failedOperation(error);
  const during = operation ? ` (${iamAction(operation)})` : '';
  const needs = hint
    ? [
        `'outbox ${hint.command}' needs these IAM permissions:`,
        ...hint.permissions.map((line) => `  ${line}`),
      ]
    : [];

  if (ACCESS_DENIED.has(name) || /AccessDenied/.test(name)) {
    const denial = parseDenial(message);
    const action = denial.action ?? (operation ? iamAction(operation) : undefined);
    const what = action ? `${action}${denial.resource ? ` on ${denial.resource}` : ''}` : 'an AWS call';
    return {
      lines: [
        `error: access denied: ${what}`,
        ...(denial.principal ? [`  caller: ${denial.principal}`] : []),
        `  AWS said: ${message}`,
        ...(action
          ? [`  grant ${action}${denial.resource ? ` on ${denial.resource}` : ''} to the caller.`]
          : []),
        ...needs,
      ],
      exitCode: EXIT.aws,
    };
  }
  if (CREDENTIALS_REJECTED.has(name)) {
    return {
      lines: [
        `error: AWS rejected the credentials${during}: ${name}: ${message}`,
        '  check --profile / AWS_PROFILE, refresh an SSO or session token (aws sso login), and --region.',
      ],
      exitCode: EXIT.aws,
    };
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return {
      lines: [
        `error: no AWS credentials found${during}: ${message}`,
        '  pass --profile <name>, set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws sso login;',
        '  for the local runtime use --local.',
      ],
      exitCode: EXIT.aws,
    };
  }
  if (/Region is missing/i.test(message)) {
    return {
      lines: ['error: no AWS region: pass --region <region> or set AWS_REGION (or use --local).'],
      exitCode: EXIT.aws,
    };
  }
  if (NOT_FOUND.has(name) || (name === 'ValidationError' && /does not exist/i.test(message))) {
    return {
      lines: [
        `error: not found${during}: ${message}`,
        '  check the names (--table, --bus, --poison-queue-url, --stack), --region and the account.',
      ],
      exitCode: EXIT.aws,
    };
  }
  const network = networkCode(error);
  if (network) {
    const where = operation?.endpoint ? ` ${operation.endpoint}` : ' the AWS endpoint';
    return {
      lines: [
        `error: cannot reach${where}${during}: ${network}`,
        '  is the endpoint right and running (for --local: is `npm start` still running)?',
      ],
      exitCode: EXIT.aws,
    };
  }
  return {
    lines: [`error: ${name ? `${name}: ` : ''}${message}${during}`],
    exitCode: EXIT.incomplete,
  };
}

/** True when the error is an AWS access or credentials problem (for warnings about optional calls). */
export function isAccessProblem(error: unknown): boolean {
  const name = nameOf(error);
  return ACCESS_DENIED.has(name) || /AccessDenied/.test(name) || CREDENTIALS_REJECTED.has(name);
}
