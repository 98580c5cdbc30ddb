/**
 * The local target file: a small JSON description of a running local runtime
 * (endpoints, region, table, bus, poison queue), so the operator CLI can find
 * it with `outbox <command> --local`. `npm start` writes it to
 * `.local/outbox.json` once everything has started and removes it on stop.
 *
 * Written atomically (a temporary file renamed over the target), so a reader
 * never sees half a file; removed only by the runtime that wrote it, so a
 * second runtime's file survives the first one's stop.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';

/** Where `npm start` describes itself: `.local/outbox.json` in the repository. */
export const LOCAL_TARGET_FILE = resolve(import.meta.dirname, '..', '.local', 'outbox.json');

/** Credentials the local servers accept (DynamoDB Local runs with -sharedDb; moto takes any). */
export const LOCAL_TARGET_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

const url = z.url();

const localTargetSchema = z.object({
  /** Format version; bumped on an incompatible change. */
  version: z.literal(1),
  /** Process that runs the runtime; a file whose process is gone is stale. */
  pid: z.number().int().positive(),
  startedAt: z.string(),
  region: z.string().min(1),
  endpoints: z.object({ dynamodb: url, events: url, sqs: url }),
  tableName: z.string().min(1),
  eventBusName: z.string().min(1),
  poisonQueueUrl: url,
  apiUrl: url.optional(),
});

/** What the local target file holds. */
export type LocalTarget = z.infer<typeof localTargetSchema>;

/** Thrown when the file is missing or not a local target description. */
export class LocalTargetFileError extends Error {
  override readonly name = 'LocalTargetFileError';
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Writes the description atomically and returns the function that removes
 * it again, unless another runtime has replaced it in the meantime.
 */
export async function writeLocalTarget(file: string, target: LocalTarget): Promise<() => Promise<void>> {
  const text = `${JSON.stringify(target, null, 2)}\n`;
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text, { encoding: 'utf8', mode: 0o644 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return async () => {
    const current = await readFile(file, 'utf8').catch(() => undefined);
    if (current === text) await rm(file, { force: true });
  };
}

/** Reads and validates the description. Throws {@link LocalTargetFileError}. */
export async function readLocalTarget(file: string): Promise<LocalTarget> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new LocalTargetFileError(
      file,
      missing
        ? `no local runtime described at ${file}: start one with \`npm start\``
        : `cannot read ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new LocalTargetFileError(file, `${file} is not JSON`, { cause: error });
  }
  const result = localTargetSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new LocalTargetFileError(
      file,
      `${file} is not a local target description (${issue?.path.join('.') || 'root'}: ${issue?.message})`,
    );
  }
  return result.data;
}
