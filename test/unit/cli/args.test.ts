import { describe, expect, it } from 'vitest';
import { helpText, parseCommandLine } from '../../../cli/args';
import { UsageError } from '../../../cli/errors';
import { SWEEPER_DEFAULTS } from '../../../lambdas/outbox/sweeper';

/** The UsageError a command line throws; fails the test when it parses. */
function usageError(argv: readonly string[]): UsageError {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`${argv.join(' ')} parsed`);
}

describe('parseCommandLine', () => {
  it('asks for the overview with no arguments, --help, -h or help', () => {
    for (const argv of [[], ['--help'], ['-h'], ['help']]) {
      expect(parseCommandLine(argv)).toEqual({ command: 'help' });
    }
  });

  it('asks for a command help with <command> --help and help <command>', () => {
    expect(parseCommandLine(['stats', '--help'])).toEqual({ command: 'help', topic: 'stats' });
    expect(parseCommandLine(['republish', '-h'])).toEqual({ command: 'help', topic: 'republish' });
    expect(parseCommandLine(['help', 'poison'])).toEqual({ command: 'help', topic: 'poison' });
  });

  it("defaults pending's threshold to the sweeper's and reads --older-than and --limit", () => {
    expect(parseCommandLine(['pending', '--table', 'T'])).toMatchObject({
      command: 'pending',
      olderThanSeconds: SWEEPER_DEFAULTS.thresholdSeconds,
      global: { table: 'T', local: false, json: false, verbose: false },
    });
    expect(parseCommandLine(['pending', '--older-than', '0', '--limit', '20'])).toMatchObject({
      olderThanSeconds: 0,
      limit: 20,
    });
    expect(parseCommandLine(['pending', '--older-than', '1h30m'])).toMatchObject({ olderThanSeconds: 5400 });
  });

  it('reads repeated --event-id values, without duplicates, and the dry run flag', () => {
    expect(
      parseCommandLine(['republish', '--event-id', 'a', '--event-id', 'b', '--event-id', 'a', '--dry-run']),
    ).toMatchObject({
      command: 'republish',
      selection: { by: 'id', eventIds: ['a', 'b'] },
      dryRun: true,
      segments: 4,
      deliveredTtlHours: 24,
    });
    expect(parseCommandLine(['republish', '--older-than', '2h'])).toMatchObject({
      selection: { by: 'age', olderThanSeconds: 7200 },
      dryRun: false,
    });
  });

  it('reads the target options, --local-file implying --local, and --progress / --no-progress', () => {
    expect(
      parseCommandLine([
        'stats',
        '--local-file',
        '/tmp/x.json',
        '--dynamodb-endpoint',
        'http://127.0.0.1:8000',
        '--region',
        'eu-west-1',
        '--no-progress',
        '--json',
      ]),
    ).toMatchObject({
      global: {
        local: true,
        localFile: '/tmp/x.json',
        dynamodbEndpoint: 'http://127.0.0.1:8000',
        region: 'eu-west-1',
        progress: false,
        json: true,
      },
    });
    expect(parseCommandLine(['stats', '--progress'])).toMatchObject({ global: { progress: true } });
    expect(parseCommandLine(['stats'])).not.toHaveProperty('global.progress');
  });

  it.each([
    [['frob'], /unknown command 'frob'/, undefined],
    [['--table', 'T'], /expected a command before --table/, undefined],
    [['help', 'frob'], /unknown command 'frob'/, undefined],
    [['pending', '--bogus'], /unknown option --bogus for 'pending'/, 'pending'],
    [
      ['pending', '--event-id', 'x'],
      /unknown option --event-id for 'pending' \(it belongs to 'republish'\)/,
      'pending',
    ],
    [['pending', '--older-than', '5'], /--older-than must be a duration .* got '5'/, 'pending'],
    [['pending', '--older-than', 'soon'], /--older-than must be a duration/, 'pending'],
    [['pending', '--limit', '0'], /--limit must be a whole number >= 1, got '0'/, 'pending'],
    [['pending', '--table'], /option --table needs a value/, 'pending'],
    [['pending', '--json=yes'], /option --json takes no value/, 'pending'],
    [['pending', 'extra'], /unexpected argument 'extra'/, 'pending'],
    [['stats', '--segments', '65'], /--segments must be a whole number from 1 to 64/, 'stats'],
    [['stats', '--endpoint', 'localhost:4566'], /--endpoint must be .*URL/, 'stats'],
    [['stats', '--table', ''], /--table must not be empty/, 'stats'],
    [['stats', '--stack', 'S', '--local'], /choose one of --stack and --local/, 'stats'],
    [['republish'], /say what to republish/, 'republish'],
    [
      ['republish', '--event-id', 'x', '--older-than', '5m'],
      /choose one of --event-id and --older-than/,
      'republish',
    ],
  ])('refuses %j', (argv, message, command) => {
    const error = usageError(argv);

    expect(error.message).toMatch(message);
    expect(error.exitCode).toBe(2);
    expect(error.command).toBe(command);
  });
});

describe('helpText', () => {
  it('lists every command in the overview and every option in the command help', () => {
    expect(helpText()).toMatch(/pending[\s\S]*poison[\s\S]*republish[\s\S]*stats/);
    expect(helpText('republish')).toContain('--event-id <id>');
    expect(helpText('republish')).toContain('--dry-run');
    expect(helpText('pending')).toContain('Default: 5m 00s (300 s');
    expect(helpText('stats')).toContain('--local');
  });
});
