import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

const installHint =
  "Install etcd (Debian/Ubuntu: apt-get install etcd-server) or set ETCD_BIN to the etcd binary.";

/** Thrown by {@link findEtcd} (and so by startEtcd and startCluster) when no etcd binary is available. */
export class EtcdNotFoundError extends Error {
  override name = "EtcdNotFoundError";
  /** Stable code for checks that must not depend on the message. */
  readonly code = "ERR_ETCD_NOT_FOUND";
}

/**
 * Locates the etcd binary: the `ETCD_BIN` environment variable when set, else `etcd` on `PATH`.
 *
 * @returns The path of an executable etcd binary.
 * @throws {EtcdNotFoundError} When `ETCD_BIN` is not executable, or `etcd` is not on `PATH`; the message
 *   names `apt-get install etcd-server` and `ETCD_BIN`.
 */
export function findEtcd(): string {
  const fromEnv = process.env.ETCD_BIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (isExecutableFile(fromEnv)) return fromEnv;
    throw new EtcdNotFoundError(`ETCD_BIN=${fromEnv} is not an executable file. ${installHint}`);
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "etcd");
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new EtcdNotFoundError(`etcd was not found on PATH. ${installHint}`);
}

/**
 * Why integration tests should be skipped, or `undefined` when etcd is available.
 *
 * When etcd is missing and `ETCD_REQUIRED=1` is set (as in CI), it throws instead, so a machine without
 * etcd fails the run rather than silently skipping every integration test.
 *
 * @throws {EtcdNotFoundError} When etcd is missing and `process.env.ETCD_REQUIRED === "1"`.
 */
export function etcdSkipReason(): string | undefined {
  try {
    findEtcd();
    return undefined;
  } catch (error) {
    if (!(error instanceof EtcdNotFoundError)) throw error;
    if (process.env.ETCD_REQUIRED === "1") {
      throw new EtcdNotFoundError(`ETCD_REQUIRED=1 but ${error.message}`, { cause: error });
    }
    return error.message;
  }
}

/**
 * Options for a node:test `describe`/`it` that needs etcd: skips with the reason from
 * {@link etcdSkipReason} when etcd is missing, and is empty otherwise.
 *
 * @example
 * describe("kv", integrationOptions(), () => { ... });
 */
export function integrationOptions(): { skip?: string } {
  const options: { skip?: string } = {};
  const reason = etcdSkipReason();
  if (reason !== undefined) options.skip = reason;
  return options;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
