// An HTTP server exposing an etcd client's metrics on /metrics for Prometheus to scrape.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 PORT=9464 node --conditions=source --import tsx examples/metrics-server/server.ts
//
// At start it opens a watch, keeps a lease alive and makes a few calls (one of which fails on
// purpose), so that every panel of the bundled Grafana dashboard
// (packages/prometheus/dashboards/etcd-connect.json) has data from the first scrape on. A real
// service would use the client for its own work and scrape the same registry.
// prometheus.test.ts runs it under a real Prometheus and checks every dashboard query.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { bytesToText, createClient, EtcdError, EventType } from "@etcd-connect/client";
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
  const metrics = createClientMetrics({ registry, handlingTimeHistogram: true, streamHistograms: true });
  // The interceptor feeds grpc_client_*; the observer feeds etcd_client_* (retries, endpoint
  // health, watches, kept leases, keepalive round trips, re-authentications).
  const client = createClient({ endpoints, interceptors: [metrics.interceptor], observer: metrics.observer });

  // A lease kept alive for as long as the server runs, as a service registration would be.
  const { ID } = await client.lease.grant(10);
  const keeper = client.lease.keepAlive(ID);
  void keeper.lost.then((reason) => console.error("lease lost:", reason.message));

  const watcher = client.watch("metrics-server/", { prefix: true });
  const watching = (async () => {
    for await (const batch of watcher) {
      for (const event of batch.events) {
        const kind = event.type === EventType.PUT ? "put" : "delete";
        console.log("watch:", kind, bytesToText(event.kv?.key ?? new Uint8Array()));
      }
    }
  })().catch((error: unknown) => {
    console.error("watch ended:", error instanceof Error ? error.message : error);
  });
  await watcher.ready;

  await client.put("metrics-server/greeting", "hello", { lease: ID });
  console.log("read back:", await client.getText("metrics-server/greeting"));
  await client.delete("metrics-server/greeting");
  // A read of a revision etcd has not reached fails (OutOfRange, reason future_revision): the
  // dashboard's error panel then has a series to show.
  try {
    await client.get("metrics-server/greeting", { revision: Number.MAX_SAFE_INTEGER });
  } catch (error) {
    if (!EtcdError.is(error, "future_revision")) throw error;
    console.log("expected failure:", error.reason);
  }

  const server = await startMetricsServer({ registry, port });
  console.log(`serving ${server.url}`);
  const stop = async () => {
    await server.close();
    await keeper.close();
    // Revoked at once rather than left to expire; best effort, etcd expires it anyway.
    await client.lease.revoke(ID, { timeoutMs: 2_000 }).catch((error: unknown) => {
      console.error("lease revoke failed:", error instanceof Error ? error.message : error);
    });
    await watcher.close();
    await watching;
    await client.close();
  };
  const onSignal = () => {
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
