/**
 * Turns an outbox item into a PutEvents entry. The writer uses it to refuse
 * events the relay could never send; the relay uses it to send them.
 */
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { type OutboxItem, toEnvelope } from './envelope';

/** Builds the PutEvents entry for an outbox item on the given bus. */
export function toPutEventsEntry(item: OutboxItem, eventBusName: string): PutEventsRequestEntry {
  const entry: PutEventsRequestEntry = {
    EventBusName: eventBusName,
    Source: item.source,
    DetailType: item.eventType,
    Detail: JSON.stringify(toEnvelope(item)),
    Time: new Date(item.occurredAt),
  };
  if (item.traceHeader) entry.TraceHeader = item.traceHeader;
  return entry;
}
