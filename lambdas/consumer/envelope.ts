/**
 * The message a consumer receives: an EventBridge event (delivered to SQS by a
 * rule) whose `detail` is the outbox envelope. Validated, because a queue
 * accepts anything anyone sends it.
 */
import { z } from 'zod';
import type { EventEnvelope } from '../outbox';
import { InvalidEnvelopeError } from './errors';

const detailSchema = z.object({
  eventId: z.string().min(1),
  eventType: z.string().min(1),
  aggregateType: z.string().min(1),
  aggregateId: z.string().min(1),
  sequence: z.int().positive(),
  occurredAt: z.string().min(1),
  correlationId: z.string().min(1),
  // Set by a writer with a catalogue; events written without one have none.
  dataVersion: z.string().min(1).optional(),
  data: z.record(z.string(), z.unknown()),
});

const eventBridgeSchema = z.object({
  id: z.string(),
  source: z.string(),
  'detail-type': z.string(),
  time: z.string().optional(),
  detail: detailSchema,
});

/** An EventBridge event carrying an outbox envelope. */
export interface DeliveredEvent {
  readonly id: string;
  readonly source: string;
  readonly detailType: string;
  readonly detail: EventEnvelope;
}

/**
 * Parses and validates an SQS message body.
 *
 * @throws InvalidEnvelopeError when the body is not JSON or not an outbox event
 */
export function parseDelivered(body: string): DeliveredEvent {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InvalidEnvelopeError('the message body is not JSON', { cause: error });
  }
  const result = eventBridgeSchema.safeParse(json);
  if (!result.success) {
    const where = result.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
    throw new InvalidEnvelopeError(`the message is not an outbox event (invalid: ${where})`);
  }
  const event = result.data;
  return { id: event.id, source: event.source, detailType: event['detail-type'], detail: event.detail };
}
