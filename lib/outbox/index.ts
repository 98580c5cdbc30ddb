export * from './outbox-bus';
export * from './outbox-consumer';
export * from './outbox-layout';
export * from './outbox-monitoring';
export * from './outbox-relay';
export * from './outbox-sweeper';
export * from './outbox-table';
export * from './transactional-outbox';
