/**
 * The benchmark's results: their shape (latest.json), the targets judged
 * against them, and the markdown summary (latest.md). Targets are reported,
 * never asserted: a miss is explained with the numbers that cause it.
 */
import type { BundleResult } from './bundles';
import type { CostResult } from './cost';
import type { EndToEndResult } from './end-to-end';
import type { LatencyModel } from './latency-clients';
import type { CpuResult, PlanAnalysis, ThroughputResult } from './relay-bench';
import type { StreamShape } from './stream';
import type { WritePathResult } from './write-path';

/** Where and how the run happened. */
export interface Environment {
  readonly date: string;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryGb: number;
  /** 1-minute load average when the run started: other work on the machine shows here. */
  readonly loadAverage: number;
  readonly commit?: string;
}

/** The sizes the run used. */
export interface Parameters {
  readonly mode: 'full' | 'smoke';
  readonly latency: LatencyModel;
  readonly shape: StreamShape;
  readonly records: number;
  readonly distinctRecords: number;
  readonly batchSizes: readonly number[];
  readonly concurrencies: readonly number[];
  readonly naiveRecords: number;
  readonly cpu: {
    readonly records: number;
    readonly batchSize: number;
    readonly concurrency: number;
    readonly repeats: number;
  };
  readonly importRuns: number;
  readonly writeRequests: number;
  readonly e2eRequests: number;
  /** The relay's event source mapping as the synthesized dev stack defines it (when a local part ran). */
  readonly stackMapping?: { readonly batchSize?: number; readonly batchingWindowSeconds?: number };
}

/** A throughput configuration with what its plan allows. */
export interface RelayRow extends ThroughputResult {
  /** `aggregates`: the main stream; `distinct`: one event per aggregate. */
  readonly stream: 'aggregates' | 'distinct';
  readonly plan: PlanAnalysis;
  readonly ratioToNaive: number;
}

/** A target and how the run fared. */
export interface TargetResult {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
  /** Why, with numbers; always present when missed. */
  readonly note: string;
}

/** Everything one run measured (latest.json). */
export interface BenchResults {
  readonly environment: Environment;
  readonly parameters: Parameters;
  readonly relay?: {
    readonly rows: readonly RelayRow[];
    readonly naive: ThroughputResult;
    /** The default configuration with a share of PutEvents entries throttled. */
    readonly throttled?: ThrottledResult;
  };
  readonly cpu?: readonly CpuResult[];
  readonly bundles?: readonly BundleResult[];
  readonly writePath?: WritePathResult;
  readonly endToEnd?: EndToEndResult;
  readonly cost?: CostResult;
  /** The end-to-end latency at each relay batching window measured (0 s and 1 s). */
  readonly endToEndByWindow?: readonly EndToEndResult[];
  /** Parts that failed, with the error; the run exits non-zero when any did. */
  readonly errors: Record<string, string>;
  /** Wall time of each part, in seconds. */
  readonly durationsSeconds: Record<string, number>;
  targets: TargetResult[];
}

/** Share of PutEvents entries the fault run throttles. */
export const THROTTLE_RATE = 0.05;

/** The default configuration with entries throttled, beside its fault-free figure. */
export interface ThrottledResult extends ThroughputResult {
  readonly throttleRate: number;
  readonly faultFreeEventsPerSecond?: number | undefined;
}

/** The relay's default concurrency and the stack's default batch size (lib/outbox-relay.ts). */
export const DEFAULT_CONFIGURATION = { batchSize: 1000, concurrency: 8 } as const;

const THROUGHPUT_GOAL = 1000;
const RATIO_GOAL = 10;
const CALLS_GOAL = 0.15;
const CPU_GOAL_MICROS = 20;

function number(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function kilobytes(bytes: number): string {
  return `${number(bytes / 1024, 0)} KiB`;
}

const PER_SHARD_GOAL = 1800;
const THROTTLED_SHARE_GOAL = 0.7;
const WRITE_UNITS_GOAL: Record<number, number> = { 1: 6, 4: 15 };

/** The relay targets of issue 13: the default configuration per shard, and under throttling. */
function issue13RelayTargets(
  results: BenchResults,
  relay: NonNullable<BenchResults['relay']>,
): TargetResult[] {
  const targets: TargetResult[] = [];
  const standard = relay.rows.find(
    (row) =>
      row.stream === 'aggregates' &&
      row.batchSize === DEFAULT_CONFIGURATION.batchSize &&
      row.concurrency === DEFAULT_CONFIGURATION.concurrency,
  );
  if (standard) {
    const met = standard.eventsPerSecond >= PER_SHARD_GOAL && standard.order.kept;
    targets.push({
      name: 'Relay per shard, default configuration',
      goal: `>= ${number(PER_SHARD_GOAL)} events/s (batch 1000, concurrency 8, ${results.parameters.latency.putEventsMs} ms PutEvents), order kept`,
      measured: `${number(standard.eventsPerSecond)} events/s; order ${standard.order.kept ? 'kept' : 'BROKEN'}`,
      met,
      note: met
        ? 'marks overlap publishing, so a batch ends with its last chunk'
        : `the chunk plan itself allows ${number(standard.plan.scheduleBoundEventsPerSecond)}/s at this latency ` +
          `(${standard.plan.chunks} chunks, a dependency chain of ${standard.plan.criticalPath}, 8 in flight); ` +
          "the rest is the gap guard's read before each batch and the relay's own CPU on this machine",
    });
  }
  const throttled = relay.throttled;
  if (throttled?.faultFreeEventsPerSecond) {
    const share = throttled.eventsPerSecond / throttled.faultFreeEventsPerSecond;
    targets.push({
      name: 'Relay with 5 % of entries throttled',
      goal: `>= ${THROTTLED_SHARE_GOAL * 100} % of the fault-free figure, order kept, nothing lost`,
      measured: `${number(throttled.eventsPerSecond)} events/s, ${number(share * 100)} % of ${number(throttled.faultFreeEventsPerSecond)}; order ${throttled.order.kept ? 'kept' : 'BROKEN'}; ${number(throttled.events)} events published`,
      met: share >= THROTTLED_SHARE_GOAL && throttled.order.kept,
      note:
        `${number(throttled.calls.PutEvents ?? 0)} PutEvents calls for ${number(throttled.events)} events: a chunk with a throttled entry ` +
        'waits one backoff and a round trip before the chunks behind it may start',
    });
  }
  return targets;
}

/** The capacity targets of issue 13: write units per event end to end. */
function capacityTargets(cost: NonNullable<BenchResults['cost']>): TargetResult[] {
  return cost.designs
    .filter((design) => design.design === 'now')
    .map((design) => {
      const kilobytes = Math.ceil(design.itemBytes / 1024);
      const goal = WRITE_UNITS_GOAL[kilobytes] ?? Number.POSITIVE_INFINITY;
      const before = cost.designs.find(
        (other) => other.design === 'before' && Math.ceil(other.itemBytes / 1024) === kilobytes,
      );
      const { writer, mark } = design.steps;
      return {
        name: `Write units per ${kilobytes} KB event`,
        goal: `<= ${goal}`,
        measured: `${design.writeUnitsPerEvent}${before ? ` (before: ${before.writeUnitsPerEvent})` : ''}`,
        met: design.writeUnitsPerEvent <= goal,
        note:
          `writer ${writer.tableWrite} + index ${writer.indexWrite} (transactional, measured), ` +
          `mark ${mark.tableWrite} + index ${mark.indexWrite} (${mark.source === 'rules' ? `PartiQL, by AWS rules; the same UpdateItem measured ${design.markCheck ? `${design.markCheck.tableWrite} + ${design.markCheck.indexWrite}` : '?'}` : 'measured'})`,
      };
    });
}

/** Judges the targets against the results. */
export function evaluateTargets(results: BenchResults): TargetResult[] {
  const targets: TargetResult[] = [];
  const relay = results.relay;
  if (relay) {
    const rows = relay.rows.filter((row) => row.stream === 'aggregates');
    const best = [...rows].sort((a, b) => b.eventsPerSecond - a.eventsPerSecond)[0];
    const orderKept = relay.rows.every((row) => row.order.kept);
    const latencyLabel = `${results.parameters.latency.putEventsMs} ms PutEvents`;
    if (best) {
      const meeting = rows.filter((row) => row.eventsPerSecond >= THROUGHPUT_GOAL);
      const standard = rows.find(
        (row) =>
          row.batchSize === DEFAULT_CONFIGURATION.batchSize &&
          row.concurrency === DEFAULT_CONFIGURATION.concurrency,
      );
      const distinctBest = [...relay.rows.filter((row) => row.stream === 'distinct')].sort(
        (a, b) => b.eventsPerSecond - a.eventsPerSecond,
      )[0];
      const met = best.eventsPerSecond >= THROUGHPUT_GOAL && orderKept;
      const why = met
        ? `met by ${meeting.map((row) => `batch ${row.batchSize} x ${row.concurrency}`).join(', ')}` +
          (standard
            ? `; the stack's default (batch ${DEFAULT_CONFIGURATION.batchSize}, concurrency ${DEFAULT_CONFIGURATION.concurrency}) reaches ${number(standard.eventsPerSecond)}/s`
            : '')
        : `at batch ${best.batchSize} x ${best.concurrency} the longest chain of dependent PutEvents calls is ` +
          `${best.plan.criticalPath} chunks (${best.plan.chunks} in all; order alone needs ${best.plan.orderDepth}), ` +
          `so even with no overhead the plan allows ${number(best.plan.scheduleBoundEventsPerSecond)}/s` +
          (distinctBest
            ? `. With one event per aggregate the same relay reaches ${number(distinctBest.eventsPerSecond)}/s ` +
              `(batch ${distinctBest.batchSize} x ${distinctBest.concurrency})`
            : '');
      targets.push({
        name: 'Relay throughput per shard',
        goal: `>= ${number(THROUGHPUT_GOAL)} events/s at ${latencyLabel}, order kept`,
        measured: `${number(best.eventsPerSecond)} events/s (batch ${best.batchSize}, concurrency ${best.concurrency}); order ${orderKept ? 'kept' : 'BROKEN'}`,
        met,
        note: orderKept
          ? why
          : `order broken: ${relay.rows
              .flatMap((row) => row.order.violations)
              .slice(0, 3)
              .join('; ')}`,
      });
      const ratio = best.eventsPerSecond / relay.naive.eventsPerSecond;
      targets.push({
        name: 'Speed-up over the naive relay',
        goal: `>= ${RATIO_GOAL}x`,
        measured: `${number(ratio, 1)}x (${number(best.eventsPerSecond)} vs ${number(relay.naive.eventsPerSecond, 1)} events/s)`,
        met: ratio >= RATIO_GOAL,
        note:
          ratio >= RATIO_GOAL
            ? `the naive relay pays a PutEvents and an UpdateItem round trip per event (${number(results.parameters.latency.putEventsMs + results.parameters.latency.dynamoDbMs)} ms)`
            : `the relay's best configuration is held back by its chunk plan (see above)`,
      });
    }
    const worst = [...rows].sort((a, b) => b.callsPerEvent - a.callsPerEvent)[0];
    if (worst) {
      targets.push({
        name: 'AWS calls per published event',
        goal: `<= ${CALLS_GOAL}`,
        measured: `${number(worst.callsPerEvent, 3)} (worst configuration: batch ${worst.batchSize})`,
        met: worst.callsPerEvent <= CALLS_GOAL,
        note:
          `${number(worst.entriesPerPutEvents, 1)} entries per PutEvents (at most 10) and one BatchExecuteStatement ` +
          `per published chunk (its delivered marks start as soon as the chunk is published, so a call holds at most 10); ` +
          `DynamoDB bills per unit, not per call; the naive relay makes ${number(relay.naive.callsPerEvent, 0)}`,
      });
    }
  }
  if (relay) targets.push(...issue13RelayTargets(results, relay));
  if (results.cost) targets.push(...capacityTargets(results.cost));
  const core = results.cpu?.find((cpu) => cpu.boundary === 'send');
  const sdk = results.cpu?.find((cpu) => cpu.boundary === 'http');
  if (core) {
    const met = core.microsPerEvent <= CPU_GOAL_MICROS;
    targets.push({
      name: 'Relay CPU per event',
      goal: `<= ${CPU_GOAL_MICROS} µs`,
      measured: `${number(core.microsPerEvent, 1)} µs (relay core)${sdk ? `; ${number(sdk.microsPerEvent, 1)} µs with SDK serialization and signing` : ''}`,
      met,
      note:
        (met
          ? 'the relay core (gap guard, decode, entries, plan, schedule, marks) fits the budget'
          : `the relay core alone spends ${number(core.microsPerEvent, 1)} µs per event`) +
        (sdk
          ? `; the AWS SDK's serialization, signing and parsing add ${number(sdk.microsPerEvent - core.microsPerEvent, 1)} µs, ` +
            `which a Lambda pays too (${number(sdk.microsPerEvent, 0)} ms of CPU per 1,000 events)`
          : ''),
    });
  }
  return targets;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The headline table: targets next to the figures. */
export function headlineTable(results: BenchResults): string {
  return table(
    ['Target', 'Goal', 'Measured', 'Met'],
    results.targets.map((target) => [
      target.name,
      target.goal,
      target.measured,
      target.met ? 'yes' : '**no**',
    ]),
  );
}

/** The markdown summary (latest.md). */
export function renderMarkdown(results: BenchResults): string {
  const { environment: env, parameters: p } = results;
  const out: string[] = [];
  out.push('# Benchmark results', '');
  out.push(
    `${p.mode === 'smoke' ? 'Smoke run (tiny sizes; the figures mean little). ' : ''}` +
      `Generated ${env.date} by \`npm run bench\` on Node ${env.node}, ${env.cpuModel} (${env.cpus} CPUs, ` +
      `${env.memoryGb} GB), load average ${env.loadAverage} at the start${env.commit ? `, commit ${env.commit}` : ''}.`,
    '',
    `Latency model: PutEvents ${p.latency.putEventsMs} ms, DynamoDB ${p.latency.dynamoDbMs} ms, SQS ${p.latency.sqsMs} ms ` +
      'per round trip, injected in place of the HTTP client (the SDK still serializes, signs and parses).',
    '',
    'Reproduce with `npm run bench` (`-- --put-events-ms N --dynamodb-ms N --sqs-ms N` change the model, ' +
      '`-- --parts relay,cpu` runs some parts, `-- --smoke` checks every part in under a minute).',
    '',
  );
  out.push('## Targets', '', headlineTable(results), '');
  for (const target of results.targets)
    out.push(`- **${target.name}** (${target.met ? 'met' : 'missed'}): ${target.note}.`);
  out.push('');

  if (results.relay) {
    const { rows, naive } = results.relay;
    out.push(
      '## Relay throughput per shard',
      '',
      `The relay as its handler runs it (\`relayInOrder\`, lambdas/outbox/gap-guard.ts: the gap guard's read, then the relay core) over ${number(p.records)} records of ` +
        `${p.shape.aggregates} aggregates x ${p.shape.eventsPerAggregate} events, interleaved at random in shard ` +
        `order ("aggregates"), and over ${number(p.distinctRecords)} records with one event per aggregate ` +
        `("distinct"). Batches run one after another, as the event source mapping feeds one shard. The fake ` +
        "EventBridge records every entry; order holds when each aggregate's sequences arrive as 1, 2, 3... and each " +
        'is sent only after the previous one was acknowledged. "Plan bound" replays the relay\'s own chunk schedule ' +
        'with no overhead: the most this plan allows at this concurrency.',
      '',
    );
    out.push(
      table(
        [
          'Stream',
          'Batch',
          'Concurrency',
          'Events/s',
          'x naive',
          'Calls/event',
          'Entries/PutEvents',
          'Critical path (order needs)',
          'Plan bound/s',
          'Order kept',
        ],
        [
          ...rows.map((row) => [
            row.stream,
            number(row.batchSize),
            String(row.concurrency),
            number(row.eventsPerSecond),
            `${number(row.ratioToNaive, 1)}x`,
            number(row.callsPerEvent, 3),
            number(row.entriesPerPutEvents, 1),
            `${row.plan.criticalPath} (${row.plan.orderDepth})`,
            number(row.plan.scheduleBoundEventsPerSecond),
            row.order.kept ? 'yes' : '**no**',
          ]),
          [
            'naive',
            number(naive.batchSize),
            '1',
            number(naive.eventsPerSecond, 1),
            '1.0x',
            number(naive.callsPerEvent, 3),
            '1.0',
            '-',
            '-',
            naive.order.kept ? 'yes' : '**no**',
          ],
        ],
      ),
      '',
      '![Relay throughput](throughput.svg)',
      '',
      '## AWS calls per published event',
      '',
      table(
        ['Stream', 'Batch', 'Concurrency', 'Events', 'Calls by kind', 'Calls/event'],
        [...rows, { ...naive, stream: 'naive' as const }].map((row) => [
          row.stream,
          number(row.batchSize),
          String(row.concurrency),
          number(row.events),
          Object.entries(row.calls)
            .map(([kind, count]) => `${kind} ${number(count)}`)
            .join(', '),
          number(row.callsPerEvent, 3),
        ]),
      ),
      '',
    );
  }

  if (results.cpu) {
    out.push(
      '## Relay CPU per event',
      '',
      `\`process.cpuUsage()\` around the relay calls only, zero-latency clients, ${number(p.cpu.records)} records in ` +
        `batches of ${p.cpu.batchSize}, concurrency ${p.cpu.concurrency}; median of ${p.cpu.repeats} passes after an ` +
        'unmeasured one. "send" answers before the SDK serializes (the relay\'s own work); "http" answers in place of ' +
        "the HTTP client (adds the SDK's serialization, signing and parsing).",
      '',
      table(
        ['Boundary', 'CPU µs/event', 'user', 'system', 'Wall µs/event', 'Passes (µs/event)'],
        results.cpu.map((cpu) => [
          cpu.boundary,
          number(cpu.microsPerEvent, 1),
          number(cpu.userMicrosPerEvent, 1),
          number(cpu.systemMicrosPerEvent, 1),
          number(cpu.wallMicrosPerEvent, 1),
          cpu.passes.map((pass) => number(pass, 1)).join(', '),
        ]),
      ),
      '',
    );
  }

  if (results.bundles) {
    out.push(
      '## Lambda bundles',
      '',
      'Each entry of `lambdas/outbox/functions/` and `lambdas/sample/handlers/` bundled as `ServiceFunction` bundles it (esbuild: ESM, minify, node24, ' +
        'everything bundled, createRequire banner, source map), and the median time of `await import(bundle)` in a ' +
        `fresh Node ${env.node} process over ${p.importRuns} runs, with the handler's environment set to dummy values ` +
        'and `NODE_OPTIONS=--enable-source-maps` as in Lambda.',
      '',
      table(
        ['Handler', 'Minified', 'Gzipped', 'Import (ms)', 'Largest packages'],
        results.bundles.map((bundle) => [
          bundle.handler,
          kilobytes(bundle.bytes),
          kilobytes(bundle.gzipBytes),
          bundle.importMs === undefined ? 'failed' : number(bundle.importMs, 1),
          bundle.topPackages.map((entry) => `${entry.name} ${kilobytes(entry.bytes)}`).join(', '),
        ]),
      ),
      '',
    );
  }

  if (results.writePath) {
    const w = results.writePath;
    out.push(
      '## Write path on DynamoDB Local',
      '',
      `${number(w.requests)} requests per variant, interleaved, in-process, against the stack's table created from ` +
        'the synthesized template. Milliseconds. DynamoDB Local is a Java process on this machine: compare the ' +
        'variants with each other, not with DynamoDB.',
      '',
      table(
        ['Variant', 'p50', 'p90', 'p99', 'mean'],
        [
          ['POST /members (member + outbox event in one TransactWriteItems)', w.handler],
          ['POST /members with Idempotency-Key (read + 3-item transaction)', w.handlerWithIdempotencyKey],
          ['PutItem of the same member', w.putItem],
          ['OutboxWriter.write, member + MemberRegistered, with the event catalogue', w.writerWithCatalogue],
          ['OutboxWriter.write, the same, without a catalogue', w.writerWithoutCatalogue],
        ].map(([label, summary]) =>
          typeof summary === 'string' || summary === undefined
            ? [String(label)]
            : [
                String(label),
                number(summary.p50, 2),
                number(summary.p90, 2),
                number(summary.p99, 2),
                number(summary.mean, 2),
              ],
        ),
      ),
      '',
      `The handler costs ${number(w.handler.p50 / w.putItem.p50, 1)}x a plain PutItem at the median.`,
      '',
      ...(w.writerWithCatalogue
        ? [
            `The event catalogue's schema check adds ${number(w.catalogueOverheadPercent, 1)} % to the writer's ` +
              `p50 (goal: at most 10 %; the two writers alternate which goes first each round); the check ` +
              `itself takes ${number(w.schemaCheckMicros, 1)} µs of CPU per event.`,
            '',
          ]
        : []),
    );
  }

  if (results.endToEnd) {
    const e = results.endToEnd;
    out.push(
      '## End to end in the local runtime',
      '',
      `${e.requests} requests one after another through \`startLocalRuntime\` (DynamoDB Local stream -> stream ` +
        'poller -> relay handler -> moto EventBridge -> rule -> tap queue), received with SQS long polls. ' +
        "Milliseconds. The stream poller keeps the event source mapping's settings, including its batching window.",
      '',
      table(
        ['Span', 'p50', 'p90', 'p99', 'max'],
        [
          ['commit (201) -> tap queue', e.commitToTap],
          ['request sent -> tap queue', e.requestToTap],
          ['POST /members', e.post],
        ].map(([label, summary]) =>
          typeof summary === 'string' || summary === undefined
            ? [String(label)]
            : [
                String(label),
                number(summary.p50, 1),
                number(summary.p90, 1),
                number(summary.p99, 1),
                number(summary.max, 1),
              ],
        ),
      ),
      '',
      `The relay was invoked ${e.relay.invocations} times with ${e.relay.records} records.` +
        (p.stackMapping?.batchingWindowSeconds
          ? ` The stack's event source mapping waits up to ${p.stackMapping.batchingWindowSeconds} s to fill a batch ` +
            `(MaximumBatchingWindowInSeconds, batch size ${p.stackMapping.batchSize ?? 'default'}), which the local ` +
            'stream poller honours: at one request at a time, that window is most of the latency.'
          : ''),
      '',
    );
  }

  const errors = Object.entries(results.errors);
  if (errors.length > 0) {
    out.push('## Parts that failed', '');
    for (const [part, error] of errors) out.push(`- **${part}**: \`${error.split('\n')[0]}\``);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
