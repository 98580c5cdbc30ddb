// Entry point of one local Lambda execution environment (a worker thread of
// the local runtime). Plain JavaScript, so it runs under any loader: it
// registers tsx for the TypeScript sources, then starts the worker's runtime.
import { register } from 'tsx/esm/api';

register();
await import('./function-runtime.ts');
