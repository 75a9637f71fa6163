/**
 * Thrown when etcd members do not become healthy: a process exited, or `/health` plus a known leader were not
 * reached in time. The message ends with the log tail of every member that was not healthy.
 */
export class EtcdStartError extends Error {
  override name = "EtcdStartError";
  /** Stable code for checks that must not depend on the message. */
  readonly code = "ERR_ETCD_START";
  /** Log tail per member name, for the members that were not healthy. */
  readonly logs: Readonly<Record<string, string>>;

  constructor(message: string, logs: Readonly<Record<string, string>>, options?: ErrorOptions) {
    const tails = Object.entries(logs).map(([name, tail]) => `\n--- log tail of ${name} ---\n${tail}`);
    super(message + tails.join(""), options);
    this.logs = logs;
  }
}
