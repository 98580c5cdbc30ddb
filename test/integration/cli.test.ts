/**
 * The operator CLI against DynamoDB Local and moto. Two settings:
 * - the stack's table, bus, tap and poison queues created from the template
 *   with no relay attached, so events written there stay stuck until the CLI
 *   republishes them (whatever reaches the tap queue, the CLI sent);
 * - the real local runtime (API, stream poller, relay), found through its
 *   target file with `--local-file`, as `npm start` and `--local` do; the
 *   launcher bin/outbox.mjs runs there once as a child process.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CliDeps, main } from '../../cli/main';
import type { OutboxItem } from '../../lambdas/outbox/envelope';
import type { TableKey } from '../../lambdas/outbox/keys';
import { type MarkerOptions, markDelivered, markFailed } from '../../lambdas/outbox/marker';
import { parkPoison } from '../../lambdas/outbox/poison';
import { OutboxWriter } from '../../lambdas/outbox/writer';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime';
import { readLocalTarget } from '../../local/target-file';
import { createStackWorld, localEndpoints, type StackWorld, uniqueNamespace } from '../helpers/local-env';
import { pollUntil } from '../helpers/poll';
import { testId } from '../helpers/stream-records';
import { receiveEnvelopes, tapQueueIsEmpty } from '../helpers/tap-queue';
import { withDeadline } from '../helpers/wait';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const SOURCE = 'com.example.cli-test';
const clients: { destroy(): void }[] = [];

afterAll(() => {
  for (const client of clients) client.destroy();
});

/** What one CLI run printed and returned. */
interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with captured streams and an empty environment. */
async function cli(args: readonly string[], deps: CliDeps = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    args,
    {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: {},
    },
    deps,
  );
  return { code, stdout, stderr };
}

/** Runs the CLI with `--json` and parses what it printed; fails with stderr when stdout is not JSON. */
async function cliJson<T = Record<string, unknown>>(args: readonly string[]): Promise<CliRun & { json: T }> {
  const run = await cli([...args, '--json']);
  let json: T;
  try {
    json = JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`exit ${run.code}, stdout not JSON: ${run.stdout}\nstderr: ${run.stderr}`);
  }
  return { ...run, json };
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`);
  return value;
}

/** A table, bus, tap queue and poison queue of the stack, with no relay: events stay pending. */
interface World extends StackWorld {
  /** The CLI options that point at this world. */
  readonly target: readonly string[];
  readonly writer: OutboxWriter;
  readonly marker: MarkerOptions;
}

async function createWorld(): Promise<World> {
  const world = await createStackWorld('cli');
  clients.push(world);
  const { doc, tableName, busName, poisonQueueUrl } = world;
  const endpoints = localEndpoints();
  return {
    ...world,
    target: [
      '--table',
      tableName,
      '--bus',
      busName,
      '--poison-queue-url',
      poisonQueueUrl,
      '--dynamodb-endpoint',
      endpoints.dynamoDb,
      '--events-endpoint',
      endpoints.moto,
      '--sqs-endpoint',
      endpoints.moto,
      '--region',
      'us-east-1',
    ],
    writer: new OutboxWriter({ client: doc, tableName, source: SOURCE, eventBusName: busName }),
    marker: {
      client: doc,
      tableName,
      now: () => new Date(),
      retentionHours: 24,
      retry: {
        maxAttempts: 3,
        baseDelayMs: 10,
        maxDelayMs: 50,
        remainingTimeMs: () => Number.POSITIVE_INFINITY,
        safetyMarginMs: 0,
        sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
        random: Math.random,
      },
    },
  };
}

/** An ISO time `seconds` ago. */
function ago(seconds: number): string {
  return new Date(Date.now() - seconds * 1000).toISOString();
}

/** Commits one event per call, so each has its own transaction (as separate requests would). */
async function commit(
  world: World,
  aggregateId: string,
  sequence: number,
  occurredAt: string,
  eventType = 'MemberUpdated',
): Promise<OutboxItem> {
  const result = await world.writer.write({
    writes: [],
    events: [{ eventType, aggregateType: 'MEMBER', aggregateId, sequence, occurredAt, data: { sequence } }],
  });
  return required(result.events[0], 'the committed event');
}

function keyOf(item: OutboxItem): TableKey {
  return { pk: item.pk, sk: item.sk };
}

async function stored(world: World, item: OutboxItem): Promise<OutboxItem | undefined> {
  const output = await world.doc.send(
    new GetCommand({ TableName: world.tableName, Key: keyOf(item), ConsistentRead: true }),
  );
  return output.Item as OutboxItem | undefined;
}

interface PendingJson {
  count: number;
  olderThanSeconds: number;
  events: Array<{
    eventId: string;
    sequence: number;
    ageSeconds: number;
    pk: string;
    problem: string | null;
  }>;
}

interface RepublishJson {
  dryRun: boolean;
  events: Array<{ eventId: string; sequence: number; selected: boolean; state: string; outcome: string }>;
  summary: { published: number; poisoned: number; unpublished: number; markFailures: number };
  stopped: unknown[];
  skipped: Array<{ eventId: string; reason: string }>;
  notFound: string[];
  warnings: string[];
}

describe('operator CLI on a table with stuck events (no relay)', () => {
  let world: World;

  beforeEach(async () => {
    world = await createWorld();
  });

  it('lists pending events older than the threshold, oldest first, with their age', async () => {
    const old = await commit(world, testId(1), 1, ago(1200));
    const older = await commit(world, testId(2), 1, ago(3600));
    const fresh = await commit(world, testId(3), 1, ago(1));

    const byDefault = await cliJson<PendingJson>(['pending', ...world.target]);
    const all = await cliJson<PendingJson>(['pending', '--older-than', '0', ...world.target]);
    const text = await cli(['pending', ...world.target]);

    expect(byDefault.code).toBe(0);
    expect(byDefault.json.olderThanSeconds).toBe(300);
    expect(byDefault.json.events.map((event) => event.eventId)).toEqual([older.eventId, old.eventId]);
    expect(byDefault.json.events[0]?.ageSeconds).toBeGreaterThanOrEqual(3600);
    expect(byDefault.json.events[0]?.ageSeconds).toBeLessThan(3700);
    expect(all.json.count).toBe(3);
    expect(all.json.events.at(-1)?.eventId).toBe(fresh.eventId);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^2 events pending for more than 5m 00s:/);
    expect(text.stdout).toMatch(/AGE\s+OCCURRED AT\s+AGGREGATE\s+SEQ\s+EVENT TYPE\s+EVENT ID/);
    expect(text.stdout).toMatch(
      new RegExp(`1h 0\\dm\\s+${older.occurredAt}\\s+${older.pk}\\s+1\\s+MemberUpdated`),
    );
    expect(text.stderr).toBe('');
  });

  it('lists a parked event with its reason, and the poison queue depth', async () => {
    const healthy = await commit(world, testId(4), 1, ago(600));
    const parked = await commit(world, testId(5), 1, ago(600), 'MemberRenamed');
    const reason = 'rejected: InvalidArgument: Detail is not valid JSON';
    await parkPoison(
      { reason: 'rejected', detail: 'InvalidArgument', key: keyOf(parked), item: parked },
      { client: world.sqs, queueUrl: world.poisonQueueUrl, now: () => new Date() },
    );
    expect((await markFailed(keyOf(parked), reason, world.marker)).status).toBe('marked');

    const listed = await cliJson<{
      count: number;
      events: Array<Record<string, unknown>>;
      poisonQueue: { approximateMessages: number } | null;
    }>(['poison', ...world.target]);
    const text = await cli(['poison', ...world.target]);

    expect(listed.code).toBe(0);
    expect(listed.json.count).toBe(1);
    expect(listed.json.events[0]).toMatchObject({
      eventId: parked.eventId,
      eventType: 'MemberRenamed',
      pk: parked.pk,
      sequence: 1,
      failureReason: reason,
      failedAt: expect.any(String),
    });
    expect(listed.json.poisonQueue?.approximateMessages).toBe(1);
    expect(text.stdout).toContain(reason);
    expect(text.stdout).toContain('Poison queue: ~1 message');
    expect(text.stdout).not.toContain(healthy.eventId);
    // Listing never receives: the message is still there for the operator.
    const attributes = await world.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: world.poisonQueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(attributes.Attributes).toMatchObject({
      ApproximateNumberOfMessages: '1',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
  });

  it('republishes an event by id after the earlier pending events of its aggregate, and leaves later ones', async () => {
    const aggregateId = testId(6);
    const first = await commit(world, aggregateId, 1, ago(900));
    const second = await commit(world, aggregateId, 2, ago(800));
    const third = await commit(world, aggregateId, 3, ago(700));
    const other = await commit(world, testId(7), 1, ago(900));

    const run = await cliJson<RepublishJson>(['republish', '--event-id', second.eventId, ...world.target]);
    const envelopes = await receiveEnvelopes(world, 2);

    expect(run.code).toBe(0);
    expect(run.json.summary).toEqual({
      published: 2,
      poisoned: 0,
      unpublished: 0,
      markFailures: 0,
      retried: 0,
    });
    expect(run.json.events.map((event) => [event.sequence, event.selected, event.outcome])).toEqual([
      [1, false, 'published'],
      [2, true, 'published'],
    ]);
    expect(envelopes.map((envelope) => envelope.eventId)).toEqual([first.eventId, second.eventId]);
    expect(await stored(world, first)).toMatchObject({ deliveredAt: expect.any(String) });
    expect(await stored(world, second)).toMatchObject({ deliveredAt: expect.any(String) });
    expect(await stored(world, third)).toMatchObject({ pendingPk: expect.any(String) });
    const pending = await cliJson<PendingJson>(['pending', '--older-than', '0', ...world.target]);
    expect(pending.json.events.map((event) => event.eventId).sort()).toEqual(
      [third.eventId, other.eventId].sort(),
    );
    expect(await tapQueueIsEmpty(world)).toBe(true);
  });

  it('republishes every event older than a duration, then nothing of that age is pending', async () => {
    const a1 = await commit(world, testId(8), 1, ago(1000));
    const a2 = await commit(world, testId(8), 2, ago(900));
    const b1 = await commit(world, testId(9), 1, ago(1000));
    const young = await commit(world, testId(10), 1, ago(2));

    const run = await cliJson<RepublishJson>(['republish', '--older-than', '10m', ...world.target]);
    const envelopes = await receiveEnvelopes(world, 3);

    expect(run.code).toBe(0);
    expect(run.json.summary.published).toBe(3);
    expect(envelopes.map((envelope) => envelope.eventId).sort()).toEqual(
      [a1.eventId, a2.eventId, b1.eventId].sort(),
    );
    const order = envelopes.filter((envelope) => envelope.aggregateId === testId(8));
    expect(order.map((envelope) => envelope.sequence)).toEqual([1, 2]);
    expect((await cliJson<PendingJson>(['pending', '--older-than', '10m', ...world.target])).json.count).toBe(
      0,
    );
    const everything = await cliJson<PendingJson>(['pending', '--older-than', '0', ...world.target]);
    expect(everything.json.events.map((event) => event.eventId)).toEqual([young.eventId]);
  });

  it('republishes a fixed poison event with a warning, marks it delivered, and skips delivered ones', async () => {
    const aggregateId = testId(11);
    const parked = await commit(world, aggregateId, 1, ago(900));
    const later = await commit(world, aggregateId, 2, ago(800));
    await markFailed(keyOf(parked), 'rejected: InvalidArgument', world.marker);
    await markDelivered([keyOf(later)], world.marker);

    const run = await cliJson<RepublishJson>([
      'republish',
      '--event-id',
      parked.eventId,
      '--event-id',
      later.eventId,
      ...world.target,
    ]);
    const [envelope] = await receiveEnvelopes(world, 1);
    const poison = await cliJson<{ count: number }>(['poison', ...world.target]);

    expect(run.code).toBe(0);
    expect(run.json.events).toEqual([
      expect.objectContaining({
        eventId: parked.eventId,
        state: 'failed',
        selected: true,
        outcome: 'published',
      }),
    ]);
    expect(run.json.skipped).toEqual([
      expect.objectContaining({
        eventId: later.eventId,
        reason: expect.stringMatching(/^already delivered/),
      }),
    ]);
    expect(run.json.warnings).toHaveLength(1);
    expect(run.stderr).toMatch(/warning: .*parked as poison; republished now/);
    expect(envelope?.eventId).toBe(parked.eventId);
    expect(await stored(world, parked)).toMatchObject({
      deliveredAt: expect.any(String),
      expiresAt: expect.any(Number),
      failureReason: 'rejected: InvalidArgument',
    });
    expect(poison.json.count).toBe(0);
    expect(await tapQueueIsEmpty(world)).toBe(true);
  });

  it('shows what a dry run would send and changes nothing', async () => {
    const first = await commit(world, testId(12), 1, ago(900));
    const second = await commit(world, testId(12), 2, ago(900));

    const run = await cliJson<RepublishJson>([
      'republish',
      '--event-id',
      second.eventId,
      '--dry-run',
      ...world.target,
    ]);
    const text = await cli(['republish', '--event-id', second.eventId, '--dry-run', ...world.target]);

    expect(run.code).toBe(0);
    expect(run.json.dryRun).toBe(true);
    expect(run.json.events.map((event) => [event.eventId, event.outcome])).toEqual([
      [first.eventId, 'would-publish'],
      [second.eventId, 'would-publish'],
    ]);
    expect(text.stdout).toContain('Dry run: would republish 1 event id.');
    expect(text.stdout).toMatch(/earlier, pending\s+would-publish/);
    expect(await stored(world, first)).toMatchObject({ pendingPk: expect.any(String) });
    expect(await tapQueueIsEmpty(world)).toBe(true);
  });

  it('reports an unknown event id as not found with exit code 1', async () => {
    await commit(world, testId(13), 1, ago(900));

    const run = await cliJson<RepublishJson>(['republish', '--event-id', 'no-such-event', ...world.target]);

    expect(run.code).toBe(1);
    expect(run.json.notFound).toEqual(['no-such-event']);
    expect(run.json.summary.published).toBe(0);
  });

  it('counts outbox items by state, with the oldest pending age', async () => {
    const stuck = await commit(world, testId(14), 1, ago(4000));
    await commit(world, testId(14), 2, ago(3));
    const delivered = await commit(world, testId(15), 1, ago(900));
    const failed = await commit(world, testId(16), 1, ago(900));
    await markDelivered([keyOf(delivered)], world.marker);
    await markFailed(keyOf(failed), 'oversize: too big', world.marker);

    const stats = await cliJson<Record<string, unknown>>(['stats', ...world.target]);
    const text = await cli(['stats', '--older-than', '1h', ...world.target]);

    expect(stats.code).toBe(0);
    expect(stats.json).toMatchObject({
      command: 'stats',
      table: world.tableName,
      thresholdSeconds: 300,
      total: 4,
      pending: 2,
      pendingOverThreshold: 1,
      delivered: 1,
      failed: 1,
      other: 0,
      oldestPending: { pk: stuck.pk, sk: stuck.sk, occurredAt: stuck.occurredAt },
      poisonQueue: { url: world.poisonQueueUrl, approximateMessages: 0 },
    });
    expect((stats.json.oldestPending as { ageSeconds: number }).ageSeconds).toBeGreaterThanOrEqual(4000);
    expect(text.stdout).toMatch(/pending\s+2\n\s+older than 1h 00m\s+1\n/);
    expect(text.stdout).toMatch(/oldest pending\s+1h 0\dm/);
  });

  it('refuses wrong arguments with a usage hint and exit code 2, before any AWS call', async () => {
    const both = await cli(['republish', '--event-id', 'x', '--older-than', '5m', ...world.target]);
    const noTable = await cli(['stats', '--dynamodb-endpoint', localEndpoints().dynamoDb]);

    expect(both).toMatchObject({ code: 2, stdout: '' });
    expect(both.stderr).toContain('choose one of --event-id and --older-than');
    expect(both.stderr).toContain("Run 'outbox republish --help' for usage.");
    expect(noTable.code).toBe(2);
    expect(noTable.stderr).toContain('no table name');
  });

  it('reports a missing table with exit code 3 and no stack trace', async () => {
    const run = await cli(['stats', ...world.target.slice(2), '--table', `${world.tableName}-missing`]);

    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^error: not found/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('operator CLI on the local runtime', () => {
  let runtime: LocalRuntime;
  let directory: string;
  let targetFile: string;
  let stopped = false;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'outbox-cli-'));
    targetFile = join(directory, 'outbox.json');
    const endpoints = localEndpoints();
    runtime = await startLocalRuntime({
      dynamoDbEndpoint: endpoints.dynamoDb,
      motoEndpoint: endpoints.moto,
      port: 0,
      namespace: uniqueNamespace('cli-runtime'),
      eventsFile: null,
      targetFile,
    });
  });

  afterAll(async () => {
    if (!stopped) await runtime?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  it('describes the running runtime in its target file', async () => {
    expect(await readLocalTarget(targetFile)).toMatchObject({
      version: 1,
      pid: process.pid,
      tableName: runtime.tableName,
      eventBusName: runtime.eventBusName,
      poisonQueueUrl: runtime.poisonQueueUrl,
      endpoints: {
        dynamodb: runtime.dynamoDbEndpoint,
        events: runtime.motoEndpoint,
        sqs: runtime.motoEndpoint,
      },
    });
  });

  it('counts an event the relay delivered after a request to the API', async () => {
    const response = await fetch(`${runtime.apiUrl}/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'cli@example.com', name: 'Ada' }),
    });
    expect(response.status).toBe(201);

    let stats: Record<string, unknown> = {};
    await pollUntil(
      async () => {
        stats = (await cliJson(['stats', '--local-file', targetFile])).json;
        // The count comes from a Scan and the oldest pending from the index, read
        // moments apart: wait until both have seen the delivered mark.
        return stats.delivered === 1 && stats.oldestPending === null;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the relay to deliver the MemberRegistered event' },
    );

    expect(stats).toMatchObject({
      table: runtime.tableName,
      total: 1,
      pending: 0,
      delivered: 1,
      failed: 0,
      oldestPending: null,
      poisonQueue: { approximateMessages: 0 },
    });
    expect(runtime.relayStats().records).toBeGreaterThanOrEqual(1);
  });

  it('runs through the bin launcher as a child process, with progress on stderr and clean JSON on stdout', async () => {
    const child = spawn(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'outbox.mjs'), 'stats', '--local-file', targetFile, '--json', '--progress'],
      { cwd: REPO_ROOT, env: { ...process.env, AWS_ENDPOINT_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await withDeadline(
      new Promise<number | null>((done, fail) => {
        child.once('error', fail);
        child.once('close', done);
      }),
      30_000,
      'the bin to exit',
    );

    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ command: 'stats', table: runtime.tableName, delivered: 1 });
    expect(stderr).toContain(`scanning ${runtime.tableName}`);
  });

  it('removes the target file when the runtime stops, and --local then says no runtime runs', async () => {
    await runtime.stop();
    stopped = true;

    await expect(readFile(targetFile, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    const run = await cli(['stats', '--local-file', targetFile]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('no local runtime described at');
  });
});
