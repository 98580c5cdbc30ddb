import { DynamoDBClient, DynamoDBServiceException, ScanCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  annotateOperations,
  EXIT,
  failedOperation,
  parseDenial,
  reportError,
  UsageError,
} from '../../../cli/errors';

const DENIAL =
  'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: dynamodb:Scan on resource: ' +
  'arn:aws:dynamodb:eu-west-1:123456789012:table/Outbox because no identity-based policy allows the dynamodb:Scan action';

function serviceError(name: string, message: string): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name,
    message,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

const HINT = { command: 'stats', permissions: ['dynamodb:Scan on table Outbox'] };

describe('parseDenial', () => {
  it('reads the action, resource and caller of an IAM denial', () => {
    expect(parseDenial(DENIAL)).toEqual({
      action: 'dynamodb:Scan',
      resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/Outbox',
      principal: 'arn:aws:iam::123456789012:user/ops',
    });
  });

  it('reads nothing from a message that names nothing', () => {
    expect(parseDenial('Access Denied')).toEqual({});
  });
});

describe('reportError', () => {
  it('names the denied action and resource, what to grant and what the command needs', () => {
    const report = reportError(serviceError('AccessDeniedException', DENIAL), HINT);

    expect(report.exitCode).toBe(EXIT.aws);
    expect(report.lines).toEqual([
      'error: access denied: dynamodb:Scan on arn:aws:dynamodb:eu-west-1:123456789012:table/Outbox',
      '  caller: arn:aws:iam::123456789012:user/ops',
      `  AWS said: ${DENIAL}`,
      '  grant dynamodb:Scan on arn:aws:dynamodb:eu-west-1:123456789012:table/Outbox to the caller.',
      "'outbox stats' needs these IAM permissions:",
      '  dynamodb:Scan on table Outbox',
    ]);
  });

  it('names the operation from the client when the message does not', async () => {
    const client = annotateOperations(
      new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
      'dynamodb',
    );
    // Fails every call before it leaves the process, as a denial would come back.
    client.middlewareStack.add(
      () => async () => {
        throw serviceError('AccessDeniedException', 'Access Denied');
      },
      { step: 'build', name: 'deny' },
    );

    const error = await client
      .send(new ScanCommand({ TableName: 'Outbox' }))
      .catch((caught: unknown) => caught);
    client.destroy();

    expect(failedOperation(error)).toEqual({ service: 'dynamodb', operation: 'Scan' });
    expect(reportError(error).lines[0]).toBe('error: access denied: dynamodb:Scan');
  });

  it.each([
    [
      serviceError('UnrecognizedClientException', 'The security token is invalid'),
      /AWS rejected the credentials/,
    ],
    [
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
      /no AWS credentials found/,
    ],
    [new Error('Region is missing'), /no AWS region: pass --region/],
    [
      serviceError('ResourceNotFoundException', 'Requested resource not found'),
      /not found: Requested resource/,
    ],
    [
      Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }),
      /not found: Stack with id Nope/,
    ],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      /cannot reach the AWS endpoint.*ECONNREFUSED/,
    ],
  ])('explains %s with exit code 3', (error, message) => {
    const report = reportError(error);

    expect(report.exitCode).toBe(EXIT.aws);
    expect(report.lines[0]).toMatch(message);
    expect(report.lines.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('gives a usage error its help hint and exit code 2', () => {
    expect(reportError(new UsageError('bad', 'stats'))).toEqual({
      lines: ['error: bad', "Run 'outbox stats --help' for usage."],
      exitCode: EXIT.usage,
    });
  });

  it('reports anything else by name and message with exit code 1', () => {
    expect(reportError(new TypeError('oops'))).toEqual({ lines: ['error: TypeError: oops'], exitCode: 1 });
  });
});
