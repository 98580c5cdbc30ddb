/**
 * Command-line options of `npm run bench`. Latencies also come from the
 * environment (BENCH_PUT_EVENTS_MS, BENCH_DYNAMODB_MS, BENCH_SQS_MS); a flag
 * wins over the environment.
 */
import { parseArgs } from 'node:util';
import type { LatencyModel } from './latency-clients';
import type { StreamShape } from './stream';

/** The parts of the benchmark, by the letter of the issue. */
export const PARTS = ['relay', 'cpu', 'bundles', 'write', 'e2e', 'cost'] as const;
export type Part = (typeof PARTS)[number];

/** Everything one run measures, and how much of it. */
export interface BenchOptions {
  /** Tiny sizes, results to a temporary directory: keeps the benchmark working in CI. */
  readonly smoke: boolean;
  readonly parts: ReadonlySet<Part>;
  /** Where results go; absent: bench/results (full run of every part) or a temporary directory. */
  readonly outDir?: string;
  readonly latency: LatencyModel;
  /** The main stream: many aggregates, several events each. */
  readonly shape: StreamShape;
  /** Records of the second stream, in which every event has its own aggregate. */
  readonly distinctRecords: number;
  readonly batchSizes: readonly number[];
  readonly concurrencies: readonly number[];
  /** Records the naive relay is timed over (it is slow: two round trips per event). */
  readonly naiveRecords: number;
  readonly cpu: {
    readonly shape: StreamShape;
    readonly batchSize: number;
    readonly concurrency: number;
    readonly repeats: number;
  };
  /** Imports per bundle; the median is reported. */
  readonly importRuns: number;
  readonly write: { readonly requests: number; readonly warmUp: number };
  readonly e2e: { readonly requests: number; readonly warmUp: number };
}

/** Thrown for a malformed flag or variable; the runner prints it with the usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `npm run bench [-- options]

  --smoke                 tiny sizes, every part, results to a temporary directory (< 60 s)
  --parts a,b             only these parts: ${PARTS.join(', ')} (results then go to a temporary directory)
  --out DIR               write latest.json, latest.md and throughput.svg to DIR
  --put-events-ms N       PutEvents round trip (default 30, or BENCH_PUT_EVENTS_MS)
  --dynamodb-ms N         DynamoDB round trip (default 8, or BENCH_DYNAMODB_MS)
  --sqs-ms N              SQS round trip (default 8, or BENCH_SQS_MS)
  --help                  this text`;

function milliseconds(flag: string | undefined, variable: string, fallback: number): number {
  const raw = flag ?? process.env[variable];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new UsageError(
      `${flag === undefined ? variable : 'a latency flag'} must be a number of ms >= 0, got ${raw}`,
    );
  }
  return value;
}

function partsOf(raw: string | undefined): Set<Part> {
  if (raw === undefined) return new Set(PARTS);
  const parts = new Set<Part>();
  for (const name of raw.split(',').map((part) => part.trim())) {
    const part = PARTS.find((candidate) => candidate === name);
    if (!part) throw new UsageError(`unknown part ${JSON.stringify(name)}; choose from ${PARTS.join(', ')}`);
    parts.add(part);
  }
  return parts;
}

/** Parses the arguments; `undefined` means `--help` was asked for. */
export function parseOptions(args: readonly string[]): BenchOptions | undefined {
  let values: {
    smoke?: boolean;
    parts?: string;
    out?: string;
    help?: boolean;
    'put-events-ms'?: string;
    'dynamodb-ms'?: string;
    'sqs-ms'?: string;
  };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        smoke: { type: 'boolean' },
        parts: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean' },
        'put-events-ms': { type: 'string' },
        'dynamodb-ms': { type: 'string' },
        'sqs-ms': { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return undefined;
  const smoke = values.smoke ?? false;
  const latency: LatencyModel = {
    putEventsMs: milliseconds(values['put-events-ms'], 'BENCH_PUT_EVENTS_MS', 30),
    dynamoDbMs: milliseconds(values['dynamodb-ms'], 'BENCH_DYNAMODB_MS', 8),
    sqsMs: milliseconds(values['sqs-ms'], 'BENCH_SQS_MS', 8),
  };
  const common = { parts: partsOf(values.parts), latency, ...(values.out ? { outDir: values.out } : {}) };
  if (smoke) {
    return {
      ...common,
      smoke,
      shape: { aggregates: 30, eventsPerAggregate: 4 },
      distinctRecords: 120,
      batchSizes: [20, 100],
      concurrencies: [1, 4, 8],
      naiveRecords: 10,
      cpu: { shape: { aggregates: 100, eventsPerAggregate: 10 }, batchSize: 100, concurrency: 4, repeats: 1 },
      importRuns: 1,
      write: { requests: 20, warmUp: 3 },
      e2e: { requests: 3, warmUp: 1 },
    };
  }
  return {
    ...common,
    smoke,
    shape: { aggregates: 200, eventsPerAggregate: 10 },
    distinctRecords: 1000,
    batchSizes: [100, 1000],
    concurrencies: [1, 4, 8],
    naiveRecords: 200,
    cpu: { shape: { aggregates: 1000, eventsPerAggregate: 10 }, batchSize: 1000, concurrency: 4, repeats: 3 },
    importRuns: 5,
    write: { requests: 300, warmUp: 20 },
    e2e: { requests: 40, warmUp: 2 },
  };
}
