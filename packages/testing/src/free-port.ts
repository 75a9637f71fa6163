import { createServer, type Server } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Returns a TCP port that was free on `host` a moment ago: binds port 0, reads the port the kernel chose
 * and closes the socket again. Another process may take the port before you bind it, so callers must be
 * ready to retry (startEtcd and startCluster retry on "address already in use").
 *
 * @param host - Address to probe. Default: `"127.0.0.1"`.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const reservation = await reservePorts(1, host);
  await reservation.release();
  const [port] = reservation.ports;
  if (port === undefined) throw new Error("freePort: no port was reserved");
  return port;
}

/** Ports held open until `release()`, so that ports picked together never collide with each other. */
export interface PortReservation {
  readonly ports: readonly number[];
  release(): Promise<void>;
}

/** Reserves `count` distinct ports on `host` by keeping a listening socket on each until released. */
export async function reservePorts(count: number, host = "127.0.0.1"): Promise<PortReservation> {
  const servers: Server[] = [];
  const ports: number[] = [];
  const release = () => Promise.all(servers.map(closeServer)).then(() => undefined);
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(await listen(server, 0, host));
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { ports, release };
}

/**
 * Waits until `port` can be bound on `host`, e.g. after a process that listened on it exited.
 * Rejects after `timeoutMs`.
 */
export async function waitForPortFree(port: number, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const server = createServer();
    try {
      await listen(server, port, host);
      await closeServer(server);
      return;
    } catch (error) {
      if (Date.now() >= deadline) {
        throw new Error(`port ${host}:${port} is still in use after ${timeoutMs} ms`, { cause: error });
      }
      await sleep(50);
    }
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, exclusive: true }, () => {
      server.off("error", reject);
      const address = server.address();
      if (address === null || typeof address === "string") reject(new Error("listen: no TCP address"));
      else resolve(address.port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) resolve();
    else server.close(() => resolve());
  });
}
