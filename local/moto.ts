/**
 * moto server (EventBridge, SQS, CloudWatch) from the project's Python
 * `.venv`, started on a loopback port.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalServer } from './dynamodb-local';
import { freePort } from './ports';
import { ProcessStartError, startManagedProcess } from './process';

/** Options of {@link startMoto}. */
export interface MotoOptions {
  /** Port on 127.0.0.1. @default a free port */
  readonly port?: number;
  /** Give up waiting for the server after this long. @default 60_000 */
  readonly readyTimeoutMs?: number;
}

/** moto server is not installed in the project's `.venv`. */
export class MotoSetupError extends Error {
  override readonly name = 'MotoSetupError';
}

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const VENV_BIN = join(PROJECT_ROOT, '.venv', 'bin');
const PORT_ATTEMPTS = 3;

/**
 * Runs moto's own `moto_server` entry point (`moto.server.main`, the same
 * code `.venv/bin/moto_server` runs) with a daemon thread that exits the
 * process when stdin reaches end-of-file, i.e. when the Node parent is gone,
 * even if it was killed with SIGKILL.
 */
const WATCHDOG_LAUNCHER = [
  'import os, sys, threading',
  'threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()',
  'from moto.server import main',
  'main(sys.argv[1:])',
].join('\n');

/** True once moto answers on its management API. */
async function answers(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.ok;
}

/**
 * Starts moto server on 127.0.0.1 and resolves once it answers requests. Its
 * default account is 123456789012; any access key is accepted.
 */
export async function startMoto(options: MotoOptions = {}): Promise<LocalServer> {
  const motoServer = join(VENV_BIN, 'moto_server');
  const python = join(VENV_BIN, 'python');
  if (!existsSync(motoServer) || !existsSync(python)) {
    throw new MotoSetupError(`moto server is not installed (${motoServer} is missing): run npm run setup`);
  }
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await freePort());
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      const server = await startManagedProcess({
        name: 'moto server',
        command: python,
        args: ['-c', WATCHDOG_LAUNCHER, '-H', '127.0.0.1', '-p', String(port)],
        cwd: PROJECT_ROOT,
        // Unbuffered, so a start-up failure shows in the error's output tail.
        env: { ...process.env, PYTHONUNBUFFERED: '1' },
        isReady: () => answers(endpoint),
        readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      });
      return { endpoint, port, stop: server.stop };
    } catch (error) {
      const portRace =
        error instanceof ProcessStartError &&
        error.exitedEarly &&
        /address already in use/i.test(error.output);
      if (!portRace || options.port !== undefined || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}
