/**
 * The command line: which command, which options, checked before anything is
 * sent to AWS. Everything wrong with the arguments is a {@link UsageError}
 * (exit code 2) that names the argument and how to get help.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { SWEEPER_DEFAULTS } from '../lambdas/outbox';
import { UsageError } from './errors';
import { formatDuration, parseDuration } from './format';

/** The commands, in the order help lists them. */
export const COMMANDS = ['pending', 'poison', 'republish', 'stats'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Options every command takes: where the outbox is, and how to print. */
export interface GlobalOptions {
  readonly table?: string;
  readonly bus?: string;
  readonly poisonQueueUrl?: string;
  readonly stack?: string;
  readonly local: boolean;
  readonly localFile?: string;
  readonly endpoint?: string;
  readonly dynamodbEndpoint?: string;
  readonly eventsEndpoint?: string;
  readonly sqsEndpoint?: string;
  readonly region?: string;
  readonly profile?: string;
  readonly json: boolean;
  /** True or false when forced; undefined to follow whether stderr is a terminal. */
  readonly progress?: boolean;
  readonly verbose: boolean;
}

/** What `republish` selects. */
export type RepublishSelection =
  | { readonly by: 'id'; readonly eventIds: readonly string[] }
  | { readonly by: 'age'; readonly olderThanSeconds: number };

/** A command line, parsed and checked. */
export type ParsedCommand =
  | { readonly command: 'help'; readonly topic?: CommandName }
  | {
      readonly command: 'pending';
      readonly global: GlobalOptions;
      readonly olderThanSeconds: number;
      readonly limit?: number;
    }
  | {
      readonly command: 'poison';
      readonly global: GlobalOptions;
      readonly limit?: number;
      readonly segments: number;
    }
  | {
      readonly command: 'stats';
      readonly global: GlobalOptions;
      readonly olderThanSeconds: number;
      readonly segments: number;
    }
  | {
      readonly command: 'republish';
      readonly global: GlobalOptions;
      readonly selection: RepublishSelection;
      readonly dryRun: boolean;
      readonly segments: number;
      readonly deliveredTtlHours: number;
    };

/** Parallel Scan segments by default: enough to speed a large table up, few enough to stay polite. */
export const DEFAULT_SEGMENTS = 4;
const MAX_SEGMENTS = 64;
/** The relay's default retention of delivered items (the stack's `deliveredTtlHours`). */
const DEFAULT_DELIVERED_TTL_HOURS = 24;

type OptionSpec = NonNullable<ParseArgsConfig['options']>[string];

const GLOBAL_OPTIONS = {
  table: { type: 'string' },
  bus: { type: 'string' },
  'poison-queue-url': { type: 'string' },
  stack: { type: 'string' },
  local: { type: 'boolean' },
  'local-file': { type: 'string' },
  endpoint: { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  'events-endpoint': { type: 'string' },
  'sqs-endpoint': { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  json: { type: 'boolean' },
  progress: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>;

const COMMAND_OPTIONS = {
  pending: {
    'older-than': { type: 'string' },
    limit: { type: 'string' },
  },
  poison: {
    limit: { type: 'string' },
    segments: { type: 'string' },
  },
  stats: {
    'older-than': { type: 'string' },
    segments: { type: 'string' },
  },
  republish: {
    'event-id': { type: 'string', multiple: true },
    'older-than': { type: 'string' },
    'dry-run': { type: 'boolean' },
    segments: { type: 'string' },
    'delivered-ttl-hours': { type: 'string' },
  },
} as const satisfies Record<CommandName, Record<string, OptionSpec>>;

const TARGET_HELP = `Where the outbox is (first match wins, per setting):
  --table <name>               DynamoDB table        } an explicit name always wins
  --bus <name>                 EventBridge bus       }
  --poison-queue-url <url>     SQS poison queue      }
  --stack <name>               read TableName, EventBusName, PoisonQueueUrl
                               from the CloudFormation stack's outputs
  --local                      read the running local runtime (\`npm start\`)
                               from .local/outbox.json: names, endpoints, region
  --local-file <path>          like --local, from another file
  environment                  OUTBOX_TABLE, OUTBOX_EVENT_BUS, OUTBOX_POISON_QUEUE_URL

Endpoints and credentials (default: the AWS SDK's own resolution):
  --endpoint <url>             one endpoint for every service (LocalStack)
  --dynamodb-endpoint <url>    DynamoDB only (DynamoDB Local)  } win over --endpoint
  --events-endpoint <url>      EventBridge only (moto)         } and over --local
  --sqs-endpoint <url>         SQS only (moto)                 }
  --region <region>            default: AWS_REGION / the profile's region
  --profile <name>             a profile of ~/.aws/config; default: the SDK chain

Output:
  --json                       machine-readable JSON on stdout (shape in README)
  --progress, --no-progress    force the progress bar on stderr on or off
                               (default: on when stderr is a terminal)
  --verbose                    also print the library's info lines on stderr
  -h, --help                   this help`;

const OVERVIEW = `outbox: operate the transactional outbox (list, count and republish events)

Usage: outbox <command> [options]

Commands:
  pending     list events still pending after a while (stuck), oldest first
  poison      list events parked as poison, with their reason
  republish   republish events by id or by age, in order per aggregate
  stats       count outbox items by state; oldest pending age
  help        show help for a command

Examples:
  npx outbox stats --local
  npx outbox pending --older-than 5m --stack Outbox-dev
  npx outbox republish --event-id 6f1c... --dry-run --local

Run 'outbox <command> --help' for a command's options.

Exit codes: 0 done; 1 something was left undone (unpublished, not found);
2 wrong arguments; 3 AWS refused or could not be reached (permissions,
credentials, missing table or stack, endpoint down); 130 interrupted.`;

const threshold = formatDuration(SWEEPER_DEFAULTS.thresholdSeconds);

const COMMAND_HELP: Record<CommandName, string> = {
  pending: `Usage: outbox pending [--older-than <duration>] [--limit <n>] [options]

Lists events that are still pending (not yet delivered) and older than a
duration, oldest first, with their age. Reads the sparse pending index, which
is eventually consistent: an event delivered a moment ago may still appear.

  --older-than <duration>  e.g. 30s, 5m, 2h, 1d, 1h30m; 0 lists every pending
                           event. Default: ${threshold} (${SWEEPER_DEFAULTS.thresholdSeconds} s, the sweeper's threshold)
  --limit <n>              show at most n events (the oldest)

Needs dynamodb:Query on the table's pending index.

${TARGET_HELP}`,
  poison: `Usage: outbox poison [--limit <n>] [--segments <n>] [options]

Lists events parked as poison: outbox items marked failed (failedAt,
failureReason) and not delivered since. Scans the table (progress on stderr).
With a poison queue URL it also shows the queue's approximate depth; it never
receives or deletes messages.

  --limit <n>              show at most n events (the oldest failures)
  --segments <n>           parallel Scan segments (1-${MAX_SEGMENTS}). Default: ${DEFAULT_SEGMENTS}

Needs dynamodb:Scan (dynamodb:DescribeTable for the progress estimate), and
sqs:GetQueueAttributes on the poison queue for its depth.

${TARGET_HELP}`,
  stats: `Usage: outbox stats [--older-than <duration>] [--segments <n>] [options]

Counts outbox items by state: pending (and how many are older than the
threshold), delivered (awaiting TTL deletion), failed (poison). Shows the
oldest pending age and, with a poison queue URL, the queue's depth. Scans the
whole table (progress on stderr).

  --older-than <duration>  when a pending event counts as stuck.
                           Default: ${threshold} (the sweeper's threshold)
  --segments <n>           parallel Scan segments (1-${MAX_SEGMENTS}). Default: ${DEFAULT_SEGMENTS}

Needs dynamodb:Scan and dynamodb:Query (pending index); optionally
dynamodb:DescribeTable and sqs:GetQueueAttributes.

${TARGET_HELP}`,
  republish: `Usage: outbox republish (--event-id <id>... | --older-than <duration>) [--dry-run] [options]

Publishes selected events to the bus and marks them delivered, exactly as the
relay does (retries, poison parking, marks). Order per aggregate is kept: every
still-pending earlier event of the same aggregate is published first.

  --event-id <id>          an event's eventId; repeat for several. Looked up
                           in the pending index, then by a table Scan.
  --older-than <duration>  every event pending longer than this (like a sweep
                           with this threshold); 0 means every pending event
  --dry-run                show what would be sent; change nothing
  --segments <n>           parallel Scan segments for ids not pending. Default: ${DEFAULT_SEGMENTS}
  --delivered-ttl-hours <n>  TTL of the delivered marks. Default: ${DEFAULT_DELIVERED_TTL_HOURS}

Event states:
  pending    published with its earlier pending events, then marked delivered
  failed     (parked as poison, fixed by an operator) published after its
             earlier pending events and marked delivered; a warning says it now
             arrives after later events of its aggregate that were delivered
  delivered  skipped: consumers would drop it as a duplicate of its eventId
             (replay delivered events from the bus's archive instead)

Exit code 1 when any selected event was left unpublished or not found.
Ctrl-C stops starting new PutEvents calls and still marks what was published.

Needs dynamodb:Query, dynamodb:GetItem, dynamodb:Scan (ids not pending),
dynamodb:UpdateItem (marks), events:PutEvents on the bus, sqs:SendMessage on the
poison queue.

${TARGET_HELP}`,
};

/** The help text for the whole CLI, or for one command. */
export function helpText(topic?: CommandName): string {
  return topic ? COMMAND_HELP[topic] : OVERVIEW;
}

function isCommand(value: string | undefined): value is CommandName {
  return (COMMANDS as readonly string[]).includes(value ?? '');
}

/** Which command another option belongs to, for a friendlier "unknown option". */
function ownerOf(option: string): CommandName | undefined {
  return COMMANDS.find((command) => option in COMMAND_OPTIONS[command]);
}

/** Parses and checks a command line (without `node` and the script). Throws {@link UsageError}. */
export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') return { command: 'help' };
  if (first === 'help') {
    const [topic, extra] = rest;
    if (topic === undefined) return { command: 'help' };
    if (!isCommand(topic) || extra !== undefined) throw new UsageError(`unknown command '${topic}'`);
    return { command: 'help', topic };
  }
  if (first.startsWith('-')) {
    throw new UsageError(`expected a command before ${first} (one of: ${COMMANDS.join(', ')})`);
  }
  if (!isCommand(first)) {
    throw new UsageError(`unknown command '${first}' (one of: ${COMMANDS.join(', ')})`);
  }
  const command = first;
  const values = parseOptions(command, rest);
  if (values.help === true) return { command: 'help', topic: command };
  const global = globalOptions(values, command);

  switch (command) {
    case 'pending':
      return {
        command,
        global,
        olderThanSeconds: durationOption(values, 'older-than', command) ?? SWEEPER_DEFAULTS.thresholdSeconds,
        ...optional('limit', integerOption(values, 'limit', command, 1, Number.MAX_SAFE_INTEGER)),
      };
    case 'poison':
      return {
        command,
        global,
        segments: integerOption(values, 'segments', command, 1, MAX_SEGMENTS) ?? DEFAULT_SEGMENTS,
        ...optional('limit', integerOption(values, 'limit', command, 1, Number.MAX_SAFE_INTEGER)),
      };
    case 'stats':
      return {
        command,
        global,
        olderThanSeconds: durationOption(values, 'older-than', command) ?? SWEEPER_DEFAULTS.thresholdSeconds,
        segments: integerOption(values, 'segments', command, 1, MAX_SEGMENTS) ?? DEFAULT_SEGMENTS,
      };
    case 'republish':
      return {
        command,
        global,
        selection: republishSelection(values),
        dryRun: values['dry-run'] === true,
        segments: integerOption(values, 'segments', command, 1, MAX_SEGMENTS) ?? DEFAULT_SEGMENTS,
        deliveredTtlHours:
          integerOption(values, 'delivered-ttl-hours', command, 1, 24 * 365) ?? DEFAULT_DELIVERED_TTL_HOURS,
      };
  }
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parseOptions(command: CommandName, args: readonly string[]): Values {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[command] },
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
    const [unexpected] = positionals;
    if (unexpected !== undefined) {
      throw new UsageError(`unexpected argument '${unexpected}'`, command);
    }
    return values as Values;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw translateParseError(error, command);
  }
}

/** Node's parseArgs messages are long and generic; say which option and what is wrong with it. */
function translateParseError(error: unknown, command: CommandName): UsageError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const option = /'(--?[^' ]+)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) {
    const name = option.replace(/^--?(no-)?/, '');
    const owner = ownerOf(name);
    const hint = owner && owner !== command ? ` (it belongs to '${owner}')` : '';
    return new UsageError(`unknown option ${option} for '${command}'${hint}`, command);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    const spec = { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[command] } as Record<string, OptionSpec>;
    const name = option.replace(/^--?/, '');
    return new UsageError(
      spec[name]?.type === 'boolean' ? `option ${option} takes no value` : `option ${option} needs a value`,
      command,
    );
  }
  return new UsageError(message, command);
}

function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function nonEmpty(values: Values, name: string, command: CommandName): string | undefined {
  const value = stringOption(values, name);
  if (value !== undefined && value.trim() === '')
    throw new UsageError(`--${name} must not be empty`, command);
  return value?.trim();
}

function endpointOption(values: Values, name: string, command: CommandName): string | undefined {
  const value = nonEmpty(values, name, command);
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new UsageError(`--${name} must be a URL such as http://127.0.0.1:8000, got '${value}'`, command);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--${name} must be an http or https URL, got '${value}'`, command);
  }
  return value;
}

function durationOption(values: Values, name: string, command: CommandName): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const seconds = parseDuration(text);
  if (seconds === undefined) {
    throw new UsageError(
      `--${name} must be a duration such as 30s, 5m, 2h, 1d or 1h30m (or 0), got '${text}'`,
      command,
    );
  }
  return seconds;
}

function integerOption(
  values: Values,
  name: string,
  command: CommandName,
  min: number,
  max: number,
): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} must be a whole number ${range}, got '${text}'`, command);
  }
  return value;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function globalOptions(values: Values, command: CommandName): GlobalOptions {
  const stack = nonEmpty(values, 'stack', command);
  const localFile = nonEmpty(values, 'local-file', command);
  const local = values.local === true || localFile !== undefined;
  if (values.local === false && localFile !== undefined) {
    throw new UsageError('--no-local and --local-file contradict each other', command);
  }
  if (stack !== undefined && local) {
    throw new UsageError('choose one of --stack and --local (--local-file), not both', command);
  }
  const poisonQueueUrl = nonEmpty(values, 'poison-queue-url', command);
  if (poisonQueueUrl !== undefined) endpointOption(values, 'poison-queue-url', command);
  const progress = values.progress;
  return {
    local,
    json: values.json === true,
    verbose: values.verbose === true,
    ...(typeof progress === 'boolean' ? { progress } : {}),
    ...optional('table', nonEmpty(values, 'table', command)),
    ...optional('bus', nonEmpty(values, 'bus', command)),
    ...optional('poisonQueueUrl', poisonQueueUrl),
    ...optional('stack', stack),
    ...optional('localFile', localFile),
    ...optional('endpoint', endpointOption(values, 'endpoint', command)),
    ...optional('dynamodbEndpoint', endpointOption(values, 'dynamodb-endpoint', command)),
    ...optional('eventsEndpoint', endpointOption(values, 'events-endpoint', command)),
    ...optional('sqsEndpoint', endpointOption(values, 'sqs-endpoint', command)),
    ...optional('region', nonEmpty(values, 'region', command)),
    ...optional('profile', nonEmpty(values, 'profile', command)),
  };
}

function republishSelection(values: Values): RepublishSelection {
  const raw = values['event-id'];
  const ids = Array.isArray(raw) ? raw.filter((id): id is string => typeof id === 'string') : [];
  const olderThanSeconds = durationOption(values, 'older-than', 'republish');
  if (ids.length > 0 && olderThanSeconds !== undefined) {
    throw new UsageError('choose one of --event-id and --older-than, not both', 'republish');
  }
  if (ids.length > 0) {
    const eventIds = [...new Set(ids.map((id) => id.trim()))];
    if (eventIds.some((id) => id === '')) throw new UsageError('--event-id must not be empty', 'republish');
    return { by: 'id', eventIds };
  }
  if (olderThanSeconds !== undefined) return { by: 'age', olderThanSeconds };
  throw new UsageError(
    'say what to republish: --event-id <id> (repeatable) or --older-than <duration>',
    'republish',
  );
}
