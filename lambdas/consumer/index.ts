export * from './consumer';
export * from './env';
export * from './envelope';
export * from './errors';
export * from './order-guard';
