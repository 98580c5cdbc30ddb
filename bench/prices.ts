/**
 * us-east-1 list prices the benchmark turns capacity and calls into dollars
 * with. Each price names its source and the date it was read; a price the
 * documentation search did not return is marked `found: false` with the
 * figure last published, so it can be checked by hand.
 */

/** One price. */
export interface Price {
  /** Dollars per `unit`. */
  readonly usd: number;
  readonly unit: string;
  readonly source: string;
  /** When the source was read (or, when not found, when the figure was last checked). */
  readonly date: string;
  /** False when the documentation search did not return this figure; then `note` says where it comes from. */
  readonly found: boolean;
  readonly note?: string;
}

const READ = '2026-12-02';

/** The price table. */
export const PRICES = {
  dynamoDbWriteUnit: {
    usd: 0.625 / 1e6,
    unit: 'on-demand write request unit',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    date: READ,
    found: false,
    note: 'the page was found but its rate table is not in the search excerpt; $0.625 per million is the rate published since the November 2024 on-demand price cut',
  },
  dynamoDbReadUnit: {
    usd: 0.125 / 1e6,
    unit: 'on-demand read request unit',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    date: READ,
    found: false,
    note: 'as for write units: $0.125 per million since November 2024, not in the search excerpt',
  },
  putEventsChunk: {
    usd: 1.0 / 1e6,
    unit: 'custom event (each 64 KB chunk of a PutEvents entry)',
    source: 'https://aws.amazon.com/eventbridge/pricing/',
    date: READ,
    found: false,
    note: 'the page and its 64 KB chunk rule were found; the $1.00 per million custom-event rate is not in the excerpt',
  },
  lambdaRequest: {
    usd: 0.2 / 1e6,
    unit: 'Lambda request',
    source:
      'https://aws.amazon.com/lambda/pricing/ (as transcribed by api-evangelist/aws-lambda plans, read 2026-09-20)',
    date: READ,
    found: true,
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    unit: 'GB-second, arm64',
    source:
      'https://aws.amazon.com/lambda/pricing/ (rate as listed by artillery lib/platform/aws-lambda/prices.js)',
    date: READ,
    found: false,
    note: 'the official page renders its rates client-side; the figure comes from a third-party copy of it',
  },
  xrayTraceRecorded: {
    usd: 5.0 / 1e6,
    unit: 'X-Ray trace recorded',
    source: 'https://aws.amazon.com/de/xray/pricing/',
    date: READ,
    found: true,
  },
  pipesRequest: {
    usd: 0.4 / 1e6,
    unit: 'EventBridge Pipes request (after filtering; each 64 KB chunk of a batch)',
    source: 'https://aws.amazon.com/eventbridge/pricing/',
    date: READ,
    found: false,
    note: 'the Pipes rate is not in the search excerpt; $0.40 per million requests is the published rate',
  },
  logsIngestedGb: {
    usd: 0.5,
    unit: 'GB of CloudWatch Logs ingested (standard)',
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    date: READ,
    found: false,
    note: 'not returned by the documentation search; $0.50 per GB is the long-standing standard-class rate',
  },
} as const satisfies Record<string, Price>;
