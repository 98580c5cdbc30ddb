import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LocalTarget, readLocalTarget, writeLocalTarget } from '../../../local/target-file';

const TARGET: LocalTarget = {
  version: 1,
  pid: 1234,
  startedAt: '2026-03-01T12:00:00.000Z',
  region: 'us-east-1',
  endpoints: {
    dynamodb: 'http://127.0.0.1:8000',
    events: 'http://127.0.0.1:5000',
    sqs: 'http://127.0.0.1:5000',
  },
  tableName: 'Outbox-dev-Table',
  eventBusName: 'outbox-dev',
  poisonQueueUrl: 'http://127.0.0.1:5000/123456789012/poison',
  apiUrl: 'http://127.0.0.1:3000',
};

describe('local target file', () => {
  let directory: string;
  let file: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'outbox-target-'));
    file = join(directory, 'nested', 'outbox.json');
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('reads back what was written, and leaves no temporary file behind', async () => {
    await writeLocalTarget(file, TARGET);

    expect(await readLocalTarget(file)).toEqual(TARGET);
    expect(await readdir(join(directory, 'nested'))).toEqual(['outbox.json']);
  });

  it('is removed by its writer, but not after another runtime replaced it', async () => {
    const removeFirst = await writeLocalTarget(file, TARGET);
    const removeSecond = await writeLocalTarget(file, { ...TARGET, pid: 5678 });

    await removeFirst();
    expect((await readLocalTarget(file)).pid).toBe(5678);
    await removeSecond();
    await expect(readLocalTarget(file)).rejects.toThrow(
      /no local runtime described at .*start one with `npm start`/,
    );
  });

  it('refuses a file that is not a description, naming the problem', async () => {
    await writeFile(join(directory, 'bad.json'), '{"version":1,"pid":1}');
    await writeFile(join(directory, 'text.json'), 'not json');

    await expect(readLocalTarget(join(directory, 'bad.json'))).rejects.toThrow(
      /is not a local target description/,
    );
    await expect(readLocalTarget(join(directory, 'text.json'))).rejects.toThrow(/is not JSON/);
  });
});
