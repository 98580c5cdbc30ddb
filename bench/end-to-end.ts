/**
 * End-to-end latency in the local runtime (local/runtime.ts): POST /members
 * commits the member and its event; the stream poller invokes the real
 * relay handler, which publishes to the bus in moto; a rule copies the event
 * to the tap queue. Measured from the API's answer (the commit) to the
 * moment the event is received from the tap queue.
 *
 * Runs in its own process (bench/child.ts): the runtime sets the handlers'
 * environment and imports them, which must not meet modules another part of
 * the benchmark already loaded.
 */
import { randomBytes } from 'node:crypto';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type Summary, summarize } from './stats';

/** Input of the end-to-end measurement. */
export interface EndToEndInput {
  readonly dynamoDbEndpoint: string;
  readonly motoEndpoint: string;
  /** Measured requests. */
  readonly requests: number;
  /** Unmeasured requests first (cold imports, first stream shard discovery). */
  readonly warmUp: number;
  /** Longest wait for one event. @default 30_000 */
  readonly timeoutMs?: number;
  /** The relay's batching window to run with. @default the stack's (RELAY_BATCHING_WINDOW) */
  readonly batchingWindowSeconds?: number;
}

/** Latencies in milliseconds. */
export interface EndToEndResult {
  readonly requests: number;
  /** From the API's 201 (the transaction committed) to the event received from the tap queue. */
  readonly commitToTap: Summary;
  /** From sending the request to the event received from the tap queue. */
  readonly requestToTap: Summary;
  /** The POST itself. */
  readonly post: Summary;
  /** Stream records the relay was invoked with, and how often. */
  readonly relay: { readonly invocations: number; readonly records: number };
  /** The relay's batching window the run used. */
  readonly batchingWindowSeconds?: number;
}

/** The dev stack's template with another relay batching window. */
async function templateWithWindow(seconds: number) {
  const [{ App, Duration }, { mkdtemp, rm }, { tmpdir }, { join }, { OutboxStack }] = await Promise.all([
    import('aws-cdk-lib'),
    import('node:fs/promises'),
    import('node:os'),
    import('node:path'),
    import('../lib/outbox-stack'),
  ]);
  const outdir = await mkdtemp(join(tmpdir(), 'outbox-bench-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new OutboxStack(app, 'Outbox-dev', {
      stage: 'dev',
      relayBatchingWindow: Duration.seconds(seconds),
    });
    return app.synth().getStackByName(stack.stackName).template as import('../local/synth').CfnTemplate;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

/** Thrown when an event does not arrive in time, or the API refuses the request. */
export class EndToEndError extends Error {
  override readonly name = 'EndToEndError';
}

interface TapMessage {
  readonly detail?: { readonly aggregateId?: string };
}

/** Receives from the tap queue until an event of `aggregateId` shows up; returns when it did. */
async function waitForEvent(
  sqs: SQSClient,
  queueUrl: string,
  aggregateId: string,
  seen: Map<string, number>,
  deadline: number,
): Promise<number> {
  for (;;) {
    const already = seen.get(aggregateId);
    if (already !== undefined) return already;
    if (performance.now() > deadline)
      throw new EndToEndError(`no event for ${aggregateId} on the tap queue in time`);
    const output = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const receivedAt = performance.now();
    const messages = output.Messages ?? [];
    for (const message of messages) {
      const body = JSON.parse(message.Body ?? '{}') as TapMessage;
      const id = body.detail?.aggregateId;
      if (id !== undefined && !seen.has(id)) seen.set(id, receivedAt);
    }
    if (messages.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle ?? '',
          })),
        }),
      );
    }
  }
}

/** Starts the local runtime on the given servers and measures `requests` round trips, one after another. */
export async function measureEndToEnd(input: EndToEndInput): Promise<EndToEndResult> {
  const { startLocalRuntime } = await import('../local/runtime');
  const template =
    input.batchingWindowSeconds === undefined
      ? undefined
      : await templateWithWindow(input.batchingWindowSeconds);
  const runtime = await startLocalRuntime({
    ...(template ? { template } : {}),
    port: 0,
    namespace: `bench${randomBytes(3).toString('hex')}`,
    eventsFile: null,
    dynamoDbEndpoint: input.dynamoDbEndpoint,
    motoEndpoint: input.motoEndpoint,
  });
  const sqs = new SQSClient({
    endpoint: input.motoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  try {
    const queueUrl = runtime.tapQueueUrl;
    if (!queueUrl) throw new EndToEndError('the local runtime has no tap queue');
    const seen = new Map<string, number>();
    const samples = { commit: [] as number[], request: [] as number[], post: [] as number[] };
    for (let round = 0; round < input.warmUp + input.requests; round += 1) {
      const sentAt = performance.now();
      const response = await fetch(`${runtime.apiUrl}/members`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `e2e-${round}@example.com`, name: `E2E Member ${round}` }),
      });
      const body = (await response.json()) as { id?: string };
      const committedAt = performance.now();
      if (response.status !== 201 || typeof body.id !== 'string') {
        throw new EndToEndError(`POST /members answered ${response.status}: ${JSON.stringify(body)}`);
      }
      const deadline = committedAt + (input.timeoutMs ?? 30_000);
      const arrivedAt = await waitForEvent(sqs, queueUrl, body.id, seen, deadline);
      if (round < input.warmUp) continue;
      samples.commit.push(arrivedAt - committedAt);
      samples.request.push(arrivedAt - sentAt);
      samples.post.push(committedAt - sentAt);
    }
    return {
      requests: input.requests,
      commitToTap: summarize(samples.commit),
      requestToTap: summarize(samples.request),
      post: summarize(samples.post),
      relay: runtime.relayStats(),
      ...(input.batchingWindowSeconds === undefined
        ? {}
        : { batchingWindowSeconds: input.batchingWindowSeconds }),
    };
  } finally {
    sqs.destroy();
    await runtime.stop();
  }
}
