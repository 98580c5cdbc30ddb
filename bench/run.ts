/**
 * `npm run bench`: measures the relay (throughput per shard under a latency
 * model, AWS calls per event, CPU per event), the Lambda bundles (size,
 * import time), the write path on DynamoDB Local and the end-to-end latency
 * in the local runtime; prints the figures and writes latest.json,
 * latest.md and throughput.svg. `-- --smoke` runs every part with tiny
 * sizes and writes to a temporary directory. Never part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DynamoDBRecord } from 'aws-lambda';
import { RELAY_BATCHING_WINDOW } from '../lib/outbox/outbox-relay';
import { type LocalServer, startDynamoDbLocal } from '../local/dynamodb-local';
import { startMoto } from '../local/moto';
import { eventSourceMappings } from '../local/resources';
import { type CfnTemplate, synthTemplate } from '../local/synth';
import { type BundleResult, measureBundles } from './bundles';
import { renderThroughputChart } from './chart';
import { runInChild } from './child';
import { type CostResult, measureCost } from './cost';
import type { EndToEndResult } from './end-to-end';
import { type BenchOptions, PARTS, parseOptions, USAGE, UsageError } from './options';
import {
  analysePlan,
  type CpuResult,
  measureNaive,
  measureRelay,
  measureRelayCpu,
  type ThroughputResult,
  warmUp,
} from './relay-bench';
import {
  type BenchResults,
  DEFAULT_CONFIGURATION,
  type Environment,
  evaluateTargets,
  headlineTable,
  type RelayRow,
  renderMarkdown,
  THROTTLE_RATE,
  type ThrottledResult,
} from './report';
import { round } from './stats';
import { outboxStream } from './stream';
import type { WritePathResult } from './write-path';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(PROJECT_ROOT, 'bench', 'results');

function log(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function environment(): Environment {
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    }).trim();
  } catch {
    commit = undefined;
  }
  return {
    date: new Date().toISOString(),
    node: process.versions.node,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cpus: cpus().length,
    memoryGb: round(totalmem() / 1024 ** 3, 1),
    loadAverage: round(loadavg()[0] ?? 0, 2),
    ...(commit ? { commit } : {}),
  };
}

function pad(text: string | number, width: number): string {
  return String(text).padStart(width);
}

async function relayPart(
  options: BenchOptions,
  records: readonly DynamoDBRecord[],
): Promise<{ rows: RelayRow[]; naive: ThroughputResult; throttled: ThrottledResult }> {
  const { latency } = options;
  log(
    `(a, b) relay throughput per shard, PutEvents ${latency.putEventsMs} ms, DynamoDB ${latency.dynamoDbMs} ms, SQS ${latency.sqsMs} ms`,
  );
  await warmUp();
  const naive = await measureNaive(
    records.slice(0, options.naiveRecords),
    options.batchSizes[0] ?? 100,
    latency,
  );
  log(
    `  naive       ${pad(naive.events, 5)} events ${pad(naive.eventsPerSecond.toFixed(1), 8)} events/s  ` +
      `calls/event ${naive.callsPerEvent.toFixed(3)}  ${JSON.stringify(naive.calls)}  order ${naive.order.kept ? 'kept' : 'BROKEN'}`,
  );
  const distinct = outboxStream({ aggregates: options.distinctRecords, eventsPerAggregate: 1, seed: 11 });
  const rows: RelayRow[] = [];
  for (const [stream, input] of [
    ['aggregates', records],
    ['distinct', distinct],
  ] as const) {
    for (const batchSize of options.batchSizes) {
      for (const concurrency of options.concurrencies) {
        const result = await measureRelay(input, batchSize, concurrency, latency);
        const plan = analysePlan(input, batchSize, concurrency, latency);
        const row: RelayRow = {
          ...result,
          stream,
          plan,
          ratioToNaive: round(result.eventsPerSecond / naive.eventsPerSecond, 1),
        };
        rows.push(row);
        log(
          `  ${stream.padEnd(10)} batch ${pad(batchSize, 4)} x ${concurrency}  ${pad(row.events, 5)} events ` +
            `${pad(row.eventsPerSecond.toFixed(0), 6)} events/s  ${pad(row.ratioToNaive.toFixed(1), 5)}x naive  ` +
            `calls/event ${row.callsPerEvent.toFixed(3)} ${JSON.stringify(row.calls)}  ` +
            `critical path ${plan.criticalPath} (order needs ${plan.orderDepth}), plan bound ${plan.scheduleBoundEventsPerSecond.toFixed(0)}/s  ` +
            `order ${row.order.kept ? 'kept' : `BROKEN: ${row.order.violations.join('; ')}`}`,
        );
      }
    }
  }
  const kept = rows.every((row) => row.order.kept) && naive.order.kept;
  log(`  per-aggregate order ${kept ? 'held in every configuration' : 'was BROKEN (see above)'}`);
  // The default configuration again, with 5 % of PutEvents entries throttled (seeded).
  const { batchSize, concurrency } = DEFAULT_CONFIGURATION;
  const fault = await measureRelay(records, batchSize, concurrency, latency, THROTTLE_RATE);
  const faultFree = rows.find(
    (row) => row.stream === 'aggregates' && row.batchSize === batchSize && row.concurrency === concurrency,
  );
  const throttled = {
    ...fault,
    throttleRate: THROTTLE_RATE,
    faultFreeEventsPerSecond: faultFree?.eventsPerSecond,
  };
  log(
    `  throttled   batch ${pad(batchSize, 4)} x ${concurrency}  ${pad(fault.events, 5)} events ${pad(fault.eventsPerSecond.toFixed(0), 6)} events/s ` +
      `with ${THROTTLE_RATE * 100} % of entries throttled` +
      (faultFree
        ? ` (${round((fault.eventsPerSecond / faultFree.eventsPerSecond) * 100, 0)} % of fault-free)`
        : '') +
      `  ${JSON.stringify(fault.calls)}  order ${fault.order.kept ? 'kept' : `BROKEN: ${fault.order.violations.join('; ')}`}`,
  );
  return { rows, naive, throttled };
}

async function cpuPart(options: BenchOptions): Promise<CpuResult[]> {
  const records = options.cpu.shape.aggregates * options.cpu.shape.eventsPerAggregate;
  log(`(c) relay CPU per event, zero latency, ${records} records, batch ${options.cpu.batchSize}`);
  const results: CpuResult[] = [];
  for (const boundary of ['send', 'http'] as const) {
    const result = await measureRelayCpu({ ...options.cpu, boundary });
    results.push(result);
    log(
      `  ${boundary === 'send' ? 'relay core     ' : 'with SDK (http)'}  ${pad(result.microsPerEvent.toFixed(1), 6)} µs/event ` +
        `(user ${result.userMicrosPerEvent.toFixed(1)}, system ${result.systemMicrosPerEvent.toFixed(1)}; passes ${result.passes.join(', ')})`,
    );
  }
  return results;
}

async function bundlesPart(options: BenchOptions, workDir: string): Promise<BundleResult[]> {
  log(`(d) Lambda bundles: minified size and import time (median of ${options.importRuns})`);
  const bundles = await measureBundles(join(workDir, 'bundles'), options.importRuns);
  for (const bundle of bundles) {
    log(
      `  ${bundle.handler.padEnd(16)} ${pad((bundle.bytes / 1024).toFixed(0), 6)} KiB minified ` +
        `${pad((bundle.gzipBytes / 1024).toFixed(0), 5)} KiB gzipped  ` +
        `import ${bundle.importMs === undefined ? ' FAILED' : pad(bundle.importMs.toFixed(1), 6)} ms  ` +
        `(${bundle.topPackages
          .slice(0, 3)
          .map((entry) => `${entry.name} ${(entry.bytes / 1024).toFixed(0)} KiB`)
          .join(', ')})`,
    );
  }
  const failed = bundles.filter((bundle) => bundle.importError !== undefined);
  if (failed.length > 0) {
    throw new BundleImportError(
      failed.map((bundle) => `${bundle.handler}: ${bundle.importError?.split('\n')[0]}`).join('; '),
      bundles,
    );
  }
  return bundles;
}

/** Some bundles did not import; their sizes and the other import times are still reported. */
class BundleImportError extends Error {
  override readonly name = 'BundleImportError';
  constructor(
    message: string,
    readonly bundles: BundleResult[],
  ) {
    super(message);
  }
}

function summaryLine(label: string, summary: { p50: number; p99: number; mean: number }): string {
  return `  ${label.padEnd(44)} p50 ${pad(summary.p50.toFixed(2), 8)} ms  p99 ${pad(summary.p99.toFixed(2), 8)} ms  mean ${pad(summary.mean.toFixed(2), 8)} ms`;
}

/** The relay batching windows the end-to-end part compares (the stack's default among them). */
const BATCHING_WINDOWS = [0, 1] as const;

function costLines(result: CostResult): string[] {
  const lines = result.designs.map((design) => {
    const { writer, mark, gapGuard } = design.steps;
    return (
      `  ${design.design.padEnd(6)} ${pad(design.itemBytes, 5)} B item: writer ${writer.tableWrite}+${writer.indexWrite} (table+index), ` +
      `mark ${mark.tableWrite}+${mark.indexWrite} (${mark.source}), gap guard ${gapGuard.read} RCU; ` +
      `${design.writeUnitsPerEvent} write units per event` +
      (design.markCheck
        ? ` (UpdateItem check: ${design.markCheck.tableWrite}+${design.markCheck.indexWrite})`
        : '')
    );
  });
  for (const sweep of result.sweeps) {
    lines.push(
      `  idle sweep ${sweep.design.padEnd(6)} ${sweep.calls} index calls, ${sweep.ruleReadUnits} read units per run by AWS's rules (DynamoDB Local: ${sweep.readUnits})`,
    );
  }
  for (const [regime, rows] of Object.entries(result.dollars)) {
    for (const row of rows) {
      lines.push(
        `  $ per million 1 KB events, ${regime.padEnd(5)} ${row.name.padEnd(30)} ${pad(row.total.toFixed(2), 7)}`,
      );
    }
  }
  return lines;
}

/** Starts what the local parts need; stops whatever started if one fails. */
async function startServers(withMoto: boolean): Promise<{ dynamoDb: LocalServer; moto?: LocalServer }> {
  // Generous start-up bounds: on a loaded machine, starting next to the synth, the JVM takes over a minute.
  const readyTimeoutMs = 180_000;
  const [dynamoDb, moto] = await Promise.allSettled([
    startDynamoDbLocal({ inMemory: true, readyTimeoutMs }),
    withMoto ? startMoto({ readyTimeoutMs }) : Promise.resolve(undefined),
  ]);
  if (dynamoDb.status === 'fulfilled' && moto.status === 'fulfilled') {
    return { dynamoDb: dynamoDb.value, ...(moto.value ? { moto: moto.value } : {}) };
  }
  await Promise.all(
    [dynamoDb, moto].map((result) => (result.status === 'fulfilled' ? result.value?.stop() : undefined)),
  );
  throw dynamoDb.status === 'rejected'
    ? dynamoDb.reason
    : moto.status === 'rejected'
      ? moto.reason
      : undefined;
}

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    log(USAGE);
    return 0;
  }
  const everything = options.parts.size === PARTS.length;
  const outDir =
    options.outDir ??
    (options.smoke || !everything ? await mkdtemp(join(tmpdir(), 'outbox-bench-results-')) : RESULTS_DIR);
  const workDir = await mkdtemp(join(tmpdir(), 'outbox-bench-work-'));
  const env = environment();
  const records = outboxStream(options.shape);
  log(
    `outbox benchmark (${options.smoke ? 'smoke' : 'full'}) on Node ${env.node}, ${env.cpuModel} x ${env.cpus}, ` +
      `load ${env.loadAverage}, free memory ${round(freemem() / 1024 ** 3, 1)} GB`,
  );
  log();

  const errors: Record<string, string> = {};
  const durations: Record<string, number> = {};
  const attempt = async <T>(part: string, run: () => Promise<T>): Promise<T | undefined> => {
    const started = performance.now();
    try {
      return await run();
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      errors[part] = message;
      log(`  ${part} FAILED: ${message}`);
      return undefined;
    } finally {
      durations[part] = round((performance.now() - started) / 1000, 1);
      log(`  (${part}: ${durations[part]} s)`);
      log();
    }
  };

  let relay: { rows: RelayRow[]; naive: ThroughputResult; throttled: ThrottledResult } | undefined;
  let cpu: CpuResult[] | undefined;
  let bundles: BundleResult[] | undefined;
  let writePath: WritePathResult | undefined;
  let endToEnd: EndToEndResult | undefined;
  const byWindow: EndToEndResult[] = [];
  let template: CfnTemplate | undefined;
  const wantWrite = options.parts.has('write');
  const wantE2e = options.parts.has('e2e');
  const wantCost = options.parts.has('cost');
  let cost: CostResult | undefined;
  let local:
    | Promise<[CfnTemplate | undefined, Awaited<ReturnType<typeof startServers>> | undefined]>
    | undefined;
  const startLocal = () => {
    local ??= (async () => {
      log(`synthesizing the dev stack; starting DynamoDB Local${wantE2e ? ' and moto server' : ''}`);
      return Promise.all([
        attempt('synth', () => synthTemplate('dev')),
        attempt('servers', () => startServers(wantE2e)),
      ]);
    })();
    return local;
  };
  // A smoke run only checks that every part works: the servers start while the relay is measured.
  // A full run starts them afterwards, so their start-up does not take CPU from the measurements.
  if (options.smoke && (wantWrite || wantE2e || wantCost)) void startLocal();
  try {
    if (options.parts.has('relay')) relay = await attempt('relay', () => relayPart(options, records));
    if (options.parts.has('cpu')) cpu = await attempt('cpu', () => cpuPart(options));
    if (options.parts.has('bundles')) {
      let partial: BundleResult[] | undefined;
      bundles = await attempt('bundles', () =>
        bundlesPart(options, workDir).catch((error: unknown) => {
          // Keep what was measured; the failure is still recorded, and fails the run.
          if (error instanceof BundleImportError) partial = error.bundles;
          throw error;
        }),
      );
      bundles ??= partial;
    }
    if (wantWrite || wantE2e || wantCost) {
      const [synthesized, servers] = await startLocal();
      template = synthesized;
      if (servers && wantCost) {
        cost = await attempt('cost', async () => {
          log(
            '(g) capacity units per event by step on DynamoDB Local, before and now; dollars per million events',
          );
          const result = await measureCost(servers.dynamoDb.endpoint);
          for (const line of costLines(result)) log(line);
          return result;
        });
      }
      if (servers && synthesized && wantWrite) {
        writePath = await attempt('write', async () => {
          log(`(e) write path on DynamoDB Local, ${options.write.requests} requests per variant`);
          const result = await runInChild<WritePathResult>(
            'write-path',
            { dynamoDbEndpoint: servers.dynamoDb.endpoint, template: synthesized, ...options.write },
            { input: join(workDir, 'write-in.json'), output: join(workDir, 'write-out.json') },
            300_000,
          );
          log(summaryLine('POST /members through the handler', result.handler));
          log(summaryLine('POST /members with Idempotency-Key', result.handlerWithIdempotencyKey));
          log(summaryLine('PutItem of the same member', result.putItem));
          log(summaryLine('writer with the event catalogue', result.writerWithCatalogue));
          log(summaryLine('writer without a catalogue', result.writerWithoutCatalogue));
          log(
            `    catalogue overhead at p50: ${result.catalogueOverheadPercent.toFixed(1)} % ` +
              `(schema check ${result.schemaCheckMicros.toFixed(1)} µs per event)`,
          );
          return result;
        });
      }
      const moto = servers?.moto;
      if (servers && moto && wantE2e) {
        endToEnd = await attempt('e2e', async () => {
          log(
            `(f) end to end in the local runtime, ${options.e2e.requests} requests, batching window 0 s and 1 s`,
          );
          let chosen: EndToEndResult | undefined;
          for (const batchingWindowSeconds of BATCHING_WINDOWS) {
            const result = await runInChild<EndToEndResult>(
              'end-to-end',
              {
                dynamoDbEndpoint: servers.dynamoDb.endpoint,
                motoEndpoint: moto.endpoint,
                ...options.e2e,
                batchingWindowSeconds,
              },
              {
                input: join(workDir, `e2e-in-${batchingWindowSeconds}.json`),
                output: join(workDir, `e2e-out-${batchingWindowSeconds}.json`),
              },
              600_000,
            );
            byWindow.push(result);
            log(`  batching window ${batchingWindowSeconds} s`);
            log(summaryLine('commit (201) -> tap queue', result.commitToTap));
            log(summaryLine('request sent -> tap queue', result.requestToTap));
            log(summaryLine('POST /members', result.post));
            log(`  relay invoked ${result.relay.invocations} times with ${result.relay.records} records`);
            if (batchingWindowSeconds === RELAY_BATCHING_WINDOW.toSeconds()) chosen = result;
          }
          if (!chosen) throw new Error("no run used the stack's default batching window");
          return chosen;
        });
      }
    }
  } finally {
    if (local) {
      const [, servers] = await local;
      await Promise.all([servers?.dynamoDb.stop(), servers?.moto?.stop()]);
    }
    await rm(workDir, { recursive: true, force: true });
  }

  // The relay's mapping reads the table stream; consumer mappings (SQS) have no starting position.
  const mapping = template
    ? eventSourceMappings(template).find((each) => each.properties.StartingPosition !== undefined)?.properties
    : undefined;
  const results: BenchResults = {
    environment: env,
    parameters: {
      mode: options.smoke ? 'smoke' : 'full',
      latency: options.latency,
      shape: options.shape,
      records: records.length,
      distinctRecords: options.distinctRecords,
      batchSizes: options.batchSizes,
      concurrencies: options.concurrencies,
      naiveRecords: options.naiveRecords,
      cpu: {
        records: options.cpu.shape.aggregates * options.cpu.shape.eventsPerAggregate,
        batchSize: options.cpu.batchSize,
        concurrency: options.cpu.concurrency,
        repeats: options.cpu.repeats,
      },
      importRuns: options.importRuns,
      writeRequests: options.write.requests,
      e2eRequests: options.e2e.requests,
      ...(mapping
        ? {
            stackMapping: {
              ...(mapping.BatchSize === undefined ? {} : { batchSize: mapping.BatchSize }),
              ...(mapping.MaximumBatchingWindowInSeconds === undefined
                ? {}
                : { batchingWindowSeconds: mapping.MaximumBatchingWindowInSeconds }),
            },
          }
        : {}),
    },
    ...(relay ? { relay } : {}),
    ...(cpu ? { cpu } : {}),
    ...(bundles ? { bundles } : {}),
    ...(writePath ? { writePath } : {}),
    ...(endToEnd ? { endToEnd } : {}),
    ...(byWindow.length > 0 ? { endToEndByWindow: byWindow } : {}),
    ...(cost ? { cost } : {}),
    errors,
    durationsSeconds: durations,
    targets: [],
  };
  results.targets = evaluateTargets(results);

  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(outDir, 'latest.md'), renderMarkdown(results));
  if (relay) {
    const { putEventsMs, dynamoDbMs } = options.latency;
    const svg = renderThroughputChart(
      relay.rows,
      relay.naive.eventsPerSecond,
      1000,
      `PutEvents ${putEventsMs} ms, DynamoDB ${dynamoDbMs} ms per round trip; Node ${env.node}, ${env.cpuModel}`,
    );
    await writeFile(join(outDir, 'throughput.svg'), svg);
  }

  log(headlineTable(results));
  log();
  for (const target of results.targets)
    log(`- ${target.name}: ${target.met ? 'met' : 'MISSED'}: ${target.note}`);
  log();
  log(`results written to ${outDir}`);
  const failed = Object.keys(errors);
  if (failed.length > 0) log(`parts that failed: ${failed.join(', ')}`);
  return failed.length > 0 ? 1 : 0;
}

// Ctrl-C: exit through `process.exit`, whose hooks stop DynamoDB Local and moto (local/process.ts).
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
process.exit(await main());
