/**
 * Free loopback ports for the local servers, so parallel runs and other
 * tools on the machine never collide on a fixed port.
 */
import { createServer } from 'node:net';

/**
 * A TCP port that is free on 127.0.0.1 right now: the OS picks it for a
 * listener on port 0, which is then closed. Another process could take it
 * before the caller binds it; the launchers retry on that race.
 */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('the OS did not report the port of a TCP listener'));
        return;
      }
      server.close((error) => (error ? reject(error) : resolvePort(address.port)));
    });
  });
}
