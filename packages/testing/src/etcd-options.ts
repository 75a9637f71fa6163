import { existsSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { findEtcd } from "./find-etcd.js";
import type { TestCertificates } from "./test-certificates.js";

/** TLS settings for client URLs (peer traffic stays plaintext so faults can see it). */
export interface TlsOptions {
  /** Require client certificates signed by the test CA (`--client-cert-auth --trusted-ca-file`). Default: `false`. */
  clientCertAuth?: boolean;
  /** Certificates to use. Default: new ones from {@link createTestCertificates}, removed on close. */
  certificates?: TestCertificates;
}

/** Options for {@link startEtcd}; {@link ClusterOptions} adds `size`. */
export interface EtcdOptions {
  /** The etcd binary. Default: {@link findEtcd} (`ETCD_BIN`, else `etcd` on `PATH`). */
  bin?: string;
  /** Extra etcd flags appended to ours, e.g. `["--max-txn-ops=1024"]`. Default: none. */
  extraArgs?: string[];
  /** `--heartbeat-interval` in ms. Default: `100`. */
  heartbeatIntervalMs?: number;
  /** `--election-timeout` in ms; at least 5 heartbeats. Default: `1000`. */
  electionTimeoutMs?: number;
  /** How long start (and restart) waits for every member to be healthy with a leader. Default: `20000`. */
  startupTimeoutMs?: number;
  /**
   * `--auth-token-ttl` in seconds: lifetime of the simple tokens that etcd 3.4 issues by default
   * (`--auth-token=simple`); it does not apply to JWT tokens. Default: etcd's own (300).
   */
  authTokenTtlSeconds?: number;
  /**
   * Serve clients over https with generated certificates (`true`), optionally requiring client
   * certificates. Default: `false` (plain http).
   */
  tls?: boolean | TlsOptions;
  /**
   * Put a {@link FaultProxy} in front of each member's client port and route peer traffic through per-member
   * peer proxies, so faults can be injected. Default: `true` for clusters, `false` for a single member.
   */
  faults?: boolean;
  /** `--quota-backend-bytes`. Default: etcd's own (2 GiB). */
  quotaBackendBytes?: number;
  /**
   * Where data dirs are created (one `mkdtemp` per member, removed on close). Default: `/dev/shm` when it
   * exists with at least 1 GiB free (fast fsync), else `os.tmpdir()`.
   */
  dataDirRoot?: string;
  /** `--log-level`. Default: `"info"`. */
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Also append each member's log to `<logDir>/<name>.log`. Default: logs are kept in memory only. */
  logDir?: string;
  /** Log lines kept in memory per member for {@link EtcdMember.logTail} and errors. Default: `200`. */
  logLines?: number;
  /** Member name, or name prefix in a cluster (`<name>-0`, `<name>-1`, ...). Default: `"etcd"`. */
  name?: string;
}

/** Options for {@link startCluster}. */
export interface ClusterOptions extends EtcdOptions {
  /** Number of members. Default: `3`. */
  size?: number;
}

/** @internal Options with every default filled in. */
export interface ResolvedOptions {
  readonly bin: string;
  readonly size: number;
  readonly extraArgs: readonly string[];
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly startupTimeoutMs: number;
  readonly authTokenTtlSeconds: number | undefined;
  readonly tls: { clientCertAuth: boolean; certificates: TestCertificates | undefined } | undefined;
  readonly faults: boolean;
  readonly quotaBackendBytes: number | undefined;
  readonly dataDirRoot: string;
  readonly logLevel: string;
  readonly logDir: string | undefined;
  readonly logLines: number;
  readonly name: string;
}

/**
 * Fills in defaults and rejects bad values with a clear message.
 *
 * @throws {RangeError} For out-of-range numbers. {@link EtcdNotFoundError} when etcd is missing.
 */
export function resolveOptions(options: ClusterOptions, defaultSize: number): ResolvedOptions {
  const size = options.size ?? defaultSize;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 100;
  const electionTimeoutMs = options.electionTimeoutMs ?? 1000;
  positiveInteger("size", size);
  positiveInteger("heartbeatIntervalMs", heartbeatIntervalMs);
  positiveInteger("electionTimeoutMs", electionTimeoutMs);
  if (electionTimeoutMs < 5 * heartbeatIntervalMs) {
    throw new RangeError(
      `electionTimeoutMs (${electionTimeoutMs}) must be at least 5 × heartbeatIntervalMs (${heartbeatIntervalMs}), as etcd requires`,
    );
  }
  const startupTimeoutMs = options.startupTimeoutMs ?? 20_000;
  positiveInteger("startupTimeoutMs", startupTimeoutMs);
  if (options.authTokenTtlSeconds !== undefined)
    positiveInteger("authTokenTtlSeconds", options.authTokenTtlSeconds);
  if (options.quotaBackendBytes !== undefined)
    positiveInteger("quotaBackendBytes", options.quotaBackendBytes);
  const logLines = options.logLines ?? 200;
  positiveInteger("logLines", logLines);
  const name = options.name ?? "etcd";
  if (!/^[A-Za-z0-9_.-]+$/.test(name))
    throw new RangeError(`name must match [A-Za-z0-9_.-]+, got ${JSON.stringify(name)}`);
  const tls =
    options.tls === undefined || options.tls === false
      ? undefined
      : {
          clientCertAuth: options.tls !== true && options.tls.clientCertAuth === true,
          certificates: options.tls === true ? undefined : options.tls.certificates,
        };
  return {
    bin: options.bin ?? findEtcd(),
    size,
    extraArgs: options.extraArgs ?? [],
    heartbeatIntervalMs,
    electionTimeoutMs,
    startupTimeoutMs,
    authTokenTtlSeconds: options.authTokenTtlSeconds,
    tls,
    faults: options.faults ?? defaultSize > 1,
    quotaBackendBytes: options.quotaBackendBytes,
    dataDirRoot: options.dataDirRoot ?? defaultDataDirRoot(),
    logLevel: options.logLevel ?? "info",
    logDir: options.logDir,
    logLines,
    name,
  };
}

function positiveInteger(option: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${option} must be a positive integer, got ${value}`);
  }
}

const minShmBytes = 1024 * 1024 * 1024;

/** etcd preallocates 64 MB WAL segments (two per member), so a small /dev/shm fills up fast. */
function defaultDataDirRoot(): string {
  try {
    if (existsSync("/dev/shm")) {
      const stats = statfsSync("/dev/shm");
      if (stats.bavail * stats.bsize >= minShmBytes) return "/dev/shm";
    }
  } catch {
    // Not Linux, or not readable: fall back to the temp dir.
  }
  return tmpdir();
}
