/**
 * The operator CLI: `outbox <pending|poison|republish|stats> [options]`.
 *
 * `main` takes the arguments, the output streams and the environment, and
 * returns the exit code, so tests run it in-process with their own clients
 * and clock; bin/outbox.mjs runs it for real. Every failure ends here as a
 * message on stderr and an exit code (see EXIT), never as a stack trace.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { type CommandName, helpText, type ParsedCommand, parseCommandLine } from './args';
import { runPending } from './commands/pending';
import { runPoison } from './commands/poison';
import { runRepublish } from './commands/republish';
import { runStats } from './commands/stats';
import { type CommandContext, streamsContext } from './context';
import { EXIT, type PermissionHint, reportError } from './errors';
import type { Writer } from './progress';
import { type Clients, createClients, layoutOf, resolveTarget, type Target } from './target';

/** The streams and environment the CLI runs with. */
export interface CliIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** What tests may inject; everything defaults to the real thing. */
export interface CliDeps {
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Clients to use instead of ones built from the target (they are not destroyed). */
  readonly clients?: Clients;
  /** Client for `--stack` (not destroyed). */
  readonly cloudFormation?: CloudFormationClient;
  /** Ctrl-C: bin/outbox.mjs aborts it on the first SIGINT. */
  readonly signal?: AbortSignal;
  /** Whether the local runtime's process runs. @default process.kill(pid, 0) */
  readonly isProcessAlive?: (pid: number) => boolean;
}

/** Runs one command line; resolves to the exit code. Never rejects. */
export async function main(argv: readonly string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  let parsed: ParsedCommand;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    return fail(io.stderr, error);
  }
  if (parsed.command === 'help') {
    io.stdout.write(`${helpText(parsed.topic)}\n`);
    return EXIT.ok;
  }

  let target: Target | undefined;
  let ownClients: Clients | undefined;
  try {
    target = await resolveTarget(parsed.global, {
      env: io.env,
      ...(deps.cloudFormation ? { cloudFormation: deps.cloudFormation } : {}),
      ...(deps.isProcessAlive ? { isProcessAlive: deps.isProcessAlive } : {}),
    });
    if (!deps.clients) ownClients = createClients(target);
    const clients = deps.clients ?? (ownClients as Clients);
    const context: CommandContext = {
      global: parsed.global,
      target,
      clients,
      now: deps.now ?? (() => new Date()),
      stdout: io.stdout,
      stderr: io.stderr,
      signal: deps.signal ?? new AbortController().signal,
      ...streamsContext(parsed.global, io.stderr),
    };
    return await runCommand(parsed, context);
  } catch (error) {
    return fail(io.stderr, error, permissionHint(parsed.command, target, parsed.global.stack));
  } finally {
    if (ownClients) {
      ownClients.dynamoDb.destroy();
      ownClients.eventBridge.destroy();
      ownClients.sqs.destroy();
    }
  }
}

/** Runs a parsed command in its context; resolves to the exit code. */
function runCommand(
  parsed: Exclude<ParsedCommand, { command: 'help' }>,
  context: CommandContext,
): Promise<number> {
  switch (parsed.command) {
    case 'pending':
      return runPending(context, {
        olderThanSeconds: parsed.olderThanSeconds,
        ...(parsed.limit === undefined ? {} : { limit: parsed.limit }),
      });
    case 'poison':
      return runPoison(context, {
        segments: parsed.segments,
        ...(parsed.limit === undefined ? {} : { limit: parsed.limit }),
      });
    case 'stats':
      return runStats(context, { olderThanSeconds: parsed.olderThanSeconds, segments: parsed.segments });
    case 'republish':
      return runRepublish(context, {
        selection: parsed.selection,
        dryRun: parsed.dryRun,
        segments: parsed.segments,
        deliveredTtlHours: parsed.deliveredTtlHours,
      });
  }
}

function fail(stderr: Writer, error: unknown, hint?: PermissionHint): number {
  const report = reportError(error, hint);
  stderr.write(`${report.lines.join('\n')}\n`);
  return report.exitCode;
}

/** The IAM permissions a command needs, named with the target's resources where known. */
export function permissionHint(
  command: CommandName,
  target: Target | undefined,
  stack?: string,
): PermissionHint {
  const table = `table ${target?.tableName ?? '<table>'}`;
  const pendingIndex = layoutOf(target ?? {}).pendingIndex;
  const index = `${table} (index ${pendingIndex})`;
  const queue = `queue ${target?.poisonQueueUrl ?? '<poison queue>'}`;
  const bus = `event bus ${target?.eventBusName ?? '<bus>'}`;
  const byCommand: Record<CommandName, string[]> = {
    pending: [`dynamodb:Scan on ${index}`, `dynamodb:BatchGetItem on ${table}`],
    poison: [
      `dynamodb:Scan on ${table}`,
      `dynamodb:DescribeTable on ${table} (optional: progress estimate)`,
      `sqs:GetQueueAttributes on ${queue} (optional: queue depth)`,
    ],
    stats: [
      `dynamodb:Scan on ${table}`,
      `dynamodb:Scan on ${index}`,
      `dynamodb:DescribeTable on ${table} (optional: progress estimate)`,
      `sqs:GetQueueAttributes on ${queue} (optional: queue depth)`,
    ],
    republish: [
      `dynamodb:Query on ${table}, dynamodb:Scan on its index ${pendingIndex}`,
      `dynamodb:GetItem, dynamodb:Scan on ${table} (--event-id)`,
      `dynamodb:PartiQLUpdate, dynamodb:UpdateItem on ${table} (delivered and failed marks)`,
      `events:PutEvents on ${bus}`,
      `sqs:SendMessage on ${queue} (parking poison)`,
    ],
  };
  return {
    command,
    permissions: [
      ...byCommand[command],
      ...(stack ? [`cloudformation:DescribeStacks on stack ${stack}`] : []),
    ],
  };
}
