/**
 * The event bus the relay publishes to, with an archive of everything on it
 * so that events can be replayed to a consumer that missed them.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';

/** Properties of an {@link OutboxBus}. */
export interface OutboxBusProps {
  /** Name of the event bus, e.g. `outbox-dev`. */
  readonly eventBusName: string;
  /**
   * How long the archive keeps events.
   * @default Duration.days(30)
   */
  readonly archiveRetention?: Duration;
}

/** A custom event bus and an archive of every event published to it. */
export class OutboxBus extends Construct {
  /** The bus. */
  readonly eventBus: events.EventBus;
  /** The archive of every event on the bus. */
  readonly archive: events.Archive;

  constructor(scope: Construct, id: string, props: OutboxBusProps) {
    super(scope, id);
    this.eventBus = new events.EventBus(this, 'EventBus', { eventBusName: props.eventBusName });
    this.archive = new events.Archive(this, 'Archive', {
      sourceEventBus: this.eventBus,
      description: `Every event on ${props.eventBusName}, for replay`,
      // Events carry the sender's account, and only this account publishes here: this matches all of them.
      eventPattern: { account: [Stack.of(this).account] },
      retention: props.archiveRetention ?? Duration.days(30),
    });
  }
}
