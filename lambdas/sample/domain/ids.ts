/** Ids of the sample service's entities: ULIDs, sortable by creation time. */
import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** A new entity id. */
export function newId(): string {
  return nextUlid();
}
