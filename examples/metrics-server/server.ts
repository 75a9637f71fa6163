// An HTTP server exposing an etcd client's metrics on /metrics for Prometheus to scrape.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 PORT=9464 node --conditions=source --import tsx examples/metrics-server/server.ts
//
// It makes a few calls at start so the first scrape has something to show; a real service would
// use the client for its own work and scrape the same registry.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { createClient } from "@etcd-connect/client";
import { createClientMetrics, type MetricsRegistry } from "@etcd-connect/prometheus";
import { Registry } from "prom-client";

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** The registry served on `/metrics`. */
  registry: MetricsRegistry;
  /** Port to listen on. Default: 0, a free one. */
  port?: number;
  /** Address to listen on. Default: "127.0.0.1". */
  host?: string;
}

/** A running {@link startMetricsServer}. */
export interface MetricsServer extends AsyncDisposable {
  /** The URL of the `/metrics` endpoint. */
  readonly url: string;
  /** Stops accepting connections and closes idle ones. */
  close(): Promise<void>;
}

/** Serves the registry's exposition text on `GET /metrics`; anything else is 404 or 405. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry } = options;
  const host = options.host ?? "127.0.0.1";
  const server = createServer((req, res) => {
    if (new URL(req.url ?? "/", "http://localhost").pathname !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found; try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeIdleConnections();
    });
  return { url: `http://${host}:${port}/metrics`, close, [Symbol.asyncDispose]: close };
}

async function main(): Promise<void> {
  const endpoints = (process.env.ETCD_ENDPOINTS ?? "http://127.0.0.1:2379").split(",");
  const port = Number(process.env.PORT ?? 9464);
  const registry = new Registry();
  const metrics = createClientMetrics({ registry, handlingTimeHistogram: true });
  const client = createClient({ endpoints, interceptors: [metrics.interceptor] });
  await client.put("metrics-server/greeting", "hello");
  console.log("read back:", await client.getText("metrics-server/greeting"));
  await client.delete("metrics-server/greeting");
  const server = await startMetricsServer({ registry, port });
  console.log(`serving ${server.url}`);
  const stop = () => {
    Promise.all([server.close(), client.close()]).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
