import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago on 127.0.0.1: binds port 0, reads the port the OS
 * chose, closes. Another process can still take it before the caller binds it, so starters
 * retry once when the output says the address is in use (see {@link isAddressInUse}).
 */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/**
 * `count` distinct free ports: every socket stays bound until all are allocated, so the OS
 * cannot hand the same port out twice (a cluster needs client, monitor and route ports).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              if (address === null || typeof address === 'string') {
                reject(new Error('freePort: the OS returned no TCP address'));
              } else {
                resolve(address.port);
              }
            });
          }),
      ),
    );
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  }
}

/** Whether a process's output (or an error message holding it) says a bind failed. */
export function isAddressInUse(text: string): boolean {
  return /EADDRINUSE|address already in use|port is already allocated/i.test(text);
}

/**
 * Runs `start`; if it fails because a port was taken between {@link freePort} and the
 * bind, runs it once more (the callback picks fresh ports each time it runs).
 */
export async function retryOnAddressInUse<T>(start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (!(err instanceof Error) || !isAddressInUse(err.message)) throw err;
    return start();
  }
}

/**
 * Stops a service and starts it again on the same fixed port; when the port is briefly
 * still held (a lingering socket, a container being removed), waits `pauseMs` and tries
 * once more.
 */
export async function restartOnSamePort(
  stop: () => Promise<void>,
  start: () => Promise<void>,
  pauseMs: number,
): Promise<void> {
  await stop();
  try {
    await start();
  } catch (err) {
    if (!(err instanceof Error) || !isAddressInUse(err.message)) throw err;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    await start();
  }
}
