/**
 * The poison queue's depth, read with GetQueueAttributes only: receiving a
 * message would hide it from everyone else for its visibility timeout, so
 * the CLI never receives or deletes.
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { CommandContext } from './context';
import { reportError } from './errors';

/** The poison queue's depth (the `--json` shape of `poisonQueue`). */
export interface QueueDepthView {
  readonly url: string;
  /** Messages available (ApproximateNumberOfMessages); null when it could not be read. */
  readonly approximateMessages: number | null;
  /** Messages received by someone and not yet deleted (ApproximateNumberOfMessagesNotVisible). */
  readonly approximateInFlight: number | null;
  /** Why the depth is unknown, when it is. */
  readonly error: string | null;
}

/**
 * The depth of the target's poison queue, or null when no queue URL is
 * known. A failure is a warning, not the command's failure: the depth is an
 * extra next to what the table says.
 */
export async function poisonQueueDepth(context: CommandContext): Promise<QueueDepthView | null> {
  const url = context.target.poisonQueueUrl;
  if (!url) return null;
  try {
    const output = await context.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const count = (name: string) => {
      const value = Number(output.Attributes?.[name as keyof typeof output.Attributes]);
      return Number.isFinite(value) ? value : null;
    };
    return {
      url,
      approximateMessages: count('ApproximateNumberOfMessages'),
      approximateInFlight: count('ApproximateNumberOfMessagesNotVisible'),
      error: null,
    };
  } catch (error) {
    const [first = 'unknown error'] = reportError(error).lines;
    const reason = first.replace(/^error: /, '');
    context.warn(`warning: poison queue depth unknown: ${reason} (needs sqs:GetQueueAttributes on ${url})`);
    return { url, approximateMessages: null, approximateInFlight: null, error: reason };
  }
}
