/**
 * What the local runtime saw happen to each event, in the order it saw it:
 * committed (read from the table's stream), published or parked by the relay
 * (read back from the item after the relay's invocation), delivered to a
 * consumer, retried, or sent on to a dead-letter queue. The terminal prints
 * one line per entry and the console streams them to the browser. It is an
 * observer's record for people, kept in memory (the last entries only); the
 * table stays the system's record.
 */

/** What happened. */
export type FlowStage =
  /** The outbox item is in the table (seen on its stream). */
  | 'committed'
  /** The relay (or a republish) put it on the bus and marked it delivered. */
  | 'published'
  /** Parked as poison, with its reason. */
  | 'parked'
  /** The relay's invocation ended with it still pending; the stream delivers it again. */
  | 'pending'
  /** A consumer applied it (or skipped it as a duplicate) and its message was deleted. */
  | 'delivered'
  /** A consumer failed it; SQS delivers it again after the visibility timeout. */
  | 'retried'
  /** A consumer failed it for the last time; SQS moves it to the dead-letter queue. */
  | 'dead-lettered';

/** One entry of the flow. Every text field is event data: untrusted, escape it where it is shown. */
export interface FlowEntry {
  /** Position in the feed, from 1. */
  readonly id: number;
  /** When the runtime saw it (ISO 8601). */
  readonly at: string;
  readonly stage: FlowStage;
  /** The event's id; for an item that does not decode, `<pk> <sk>`. */
  readonly eventId: string;
  readonly eventType?: string;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  readonly sequence?: number;
  readonly occurredAt?: string;
  /** The event's data as JSON, cut at 500 characters (committed entries only). */
  readonly data?: string;
  /** The request that wrote it (its correlation id). */
  readonly correlationId?: string;
  /** Milliseconds from the commit (`occurredAt`) to this step. */
  readonly latencyMs?: number;
  /** The consumer, for delivered, retried and dead-lettered. */
  readonly consumer?: string;
  /** SQS receive count, for consumer steps. */
  readonly attempt?: number;
  readonly maxAttempts?: number;
  /** Why it was parked or failed. */
  readonly reason?: string;
  /** How many times this event reached this stage so far (2 or more: a duplicate). */
  readonly count: number;
  /** Who published it: the relay, or a republish from the console. */
  readonly by?: 'relay' | 'republish';
}

/** An entry before the feed numbers and counts it. */
export type NewFlowEntry = Omit<FlowEntry, 'id' | 'count' | 'at'> & { readonly at?: string };

/** @default 5,000 entries kept for pages that connect later. */
const DEFAULT_CAPACITY = 5_000;

/** The feed: append, subscribe, read the recent past. */
export class EventFeed {
  private readonly entries: FlowEntry[] = [];
  private readonly listeners = new Set<(entry: FlowEntry) => void>();
  private readonly counts = new Map<string, number>();
  private next = 1;

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  /** Appends an entry and tells every subscriber; returns it numbered and counted. */
  add(entry: NewFlowEntry): FlowEntry {
    const countKey = `${entry.stage}\u0000${entry.consumer ?? ''}\u0000${entry.eventId}`;
    const count = (this.counts.get(countKey) ?? 0) + 1;
    this.counts.set(countKey, count);
    const full: FlowEntry = { ...entry, id: this.next++, at: entry.at ?? new Date().toISOString(), count };
    this.entries.push(full);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    for (const listener of this.listeners) listener(full);
    return full;
  }

  /** How many times an event reached a stage (for a consumer). */
  countOf(stage: FlowStage, eventId: string, consumer?: string): number {
    return this.counts.get(`${stage}\u0000${consumer ?? ''}\u0000${eventId}`) ?? 0;
  }

  /** The entries kept, oldest first. */
  recent(): readonly FlowEntry[] {
    return [...this.entries];
  }

  /** Calls `listener` for every entry added from now on; returns the unsubscribe function. */
  subscribe(listener: (entry: FlowEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
