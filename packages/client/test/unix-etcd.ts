// An etcd member that serves clients on a Unix socket only (etcd's `--listen-client-urls
// unix://...`), for the Unix socket tests and the README's example.
//
// Why not @etcd-connect/testing's startEtcd: etcd 3.4 takes a Unix listen URL only as
// `unix://host:port` (types.NewURLs: host:port, no path) and creates the socket file `host:port`
// in its own working directory, while startEtcd spawns etcd in the test's working directory and
// waits for health on a TCP port. This member runs in a directory of its own, removed on close.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { findEtcd, freePort, type TestCertificates } from "@etcd-connect/testing";

/** A running member on a Unix socket; close it in teardown. */
export interface UnixEtcd {
  /** The client endpoint: `unix:///<dir>/localhost:2379`, or `unixs://` with TLS. */
  readonly endpoint: string;
  /** The socket file. */
  readonly socketPath: string;
  /** The URL etcd was given: `unix://localhost:2379`, relative to its working directory. */
  readonly listenUrl: string;
  /** etcd's last log lines, for failure messages. */
  logTail(): string;
  /** Stops etcd (SIGTERM, then SIGKILL after 10 s) and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

/** Options of {@link startUnixEtcd}. */
export interface UnixEtcdOptions {
  /** Serve `unixs://` with these certificates (the server one names `localhost`). Default: plain. */
  certificates?: TestCertificates;
  /** How long to wait for `/health`. Default: 20000. */
  startupTimeoutMs?: number;
}

// etcd's own form; the file name is all that matters, the port is never bound.
const socketName = "localhost:2379";
const logLines = 60;
const attempts = 3;

/** Starts a single-member etcd listening for clients on a Unix socket only. */
export async function startUnixEtcd(options: UnixEtcdOptions = {}): Promise<UnixEtcd> {
  for (let attempt = 1; ; attempt++) {
    const member = await launch(options);
    try {
      await member.healthy;
      return member;
    } catch (error) {
      const log = member.logTail();
      await member.close();
      // The peer port was free a moment ago; another process may have taken it since.
      if (!log.includes("address already in use") || attempt >= attempts) throw error;
    }
  }
}

async function launch(options: UnixEtcdOptions): Promise<UnixEtcd & { healthy: Promise<void> }> {
  const root = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dir = await mkdtemp(join(root, "etcd-connect-unix-"));
  const tls = options.certificates;
  const scheme = tls === undefined ? "unix" : "unixs";
  const listenUrl = `${scheme}://${socketName}`;
  const socketPath = join(dir, socketName);
  const peerUrl = `http://127.0.0.1:${await freePort()}`;
  const args = [
    "--name=unix",
    `--data-dir=${join(dir, "data")}`,
    `--listen-client-urls=${listenUrl}`,
    `--advertise-client-urls=${listenUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=unix=${peerUrl}`,
    `--initial-cluster-token=etcd-connect-unix-${process.pid}`,
    "--heartbeat-interval=100",
    "--election-timeout=1000",
    "--logger=zap",
    "--log-outputs=stderr",
    ...(tls === undefined ? [] : [`--cert-file=${tls.server.certPath}`, `--key-file=${tls.server.keyPath}`]),
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("ETCD_")) env[key] = value;
  const child = spawn(findEtcd(), args, { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
  const log: string[] = [];
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    log.push(...chunk.split("\n").filter((line) => line !== ""));
    if (log.length > logLines) log.splice(0, log.length - logLines);
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  child.once("error", () => {});
  // A test process that ends without its teardown still takes etcd down with it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let closing: Promise<void> | undefined;
  const member = {
    endpoint: `${scheme}://${socketPath}`,
    socketPath,
    listenUrl,
    logTail: () => log.join("\n"),
    close: () => {
      closing ??= (async () => {
        process.removeListener("exit", killOnExit);
        await stop(child, exited);
        await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
    healthy: waitHealthy(child, socketPath, tls, options.startupTimeoutMs ?? 20_000, () => log.join("\n")),
  };
  return member;
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

// Polls etcd's /health over the socket, as @etcd-connect/testing does over TCP: a bounded wait.
async function waitHealthy(
  child: ChildProcess,
  socketPath: string,
  tls: TestCertificates | undefined,
  timeoutMs: number,
  logTail: () => string,
): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  let last = "not answered yet";
  while (Date.now() < giveUpAt) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`etcd exited before it was healthy\n${logTail()}`);
    }
    try {
      const body = await health(socketPath, tls);
      if (/"health":\s*"true"/.test(body)) return;
      last = body;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(
    `etcd on ${socketPath} was not healthy within ${timeoutMs} ms (last: ${last})\n${logTail()}`,
  );
}

function health(socketPath: string, tls: TestCertificates | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { socketPath, path: "/health", timeout: 2000 };
    const callback = (res: import("node:http").IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve(body));
      res.on("error", reject);
    };
    const req =
      tls === undefined
        ? httpRequest(options, callback)
        : httpsRequest({ ...options, ca: tls.ca.cert, servername: "localhost" }, callback);
    req.on("timeout", () => req.destroy(new Error("/health timed out")));
    req.on("error", reject);
    req.end();
  });
}
