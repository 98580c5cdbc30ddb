export * from './entry';
export * from './envelope';
export * from './errors';
export * from './keys';
export * from './limits';
export * from './writer';
