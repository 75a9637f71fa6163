import { setTimeout as sleep } from "node:timers/promises";
import { closeAll, type Launched } from "./launch-members.js";
import type { EtcdMember } from "./member.js";
import type { TestCertificates } from "./test-certificates.js";

/** Options for {@link EtcdCluster.leader} and {@link EtcdCluster.waitHealthy}. */
export interface ClusterWaitOptions {
  /** Give up after this long. Default: `10000`. */
  timeoutMs?: number;
}

/**
 * A running cluster from {@link startCluster}. Close it with `close()` (or `await using`).
 *
 * Network faults: {@link EtcdCluster.isolate} cuts a member off from its peers while clients can still reach
 * it; each member's `clientProxy` fails client links only. Process faults live on the members
 * (`pause`, `kill`, `restart`).
 */
export class EtcdCluster {
  /** The members, in start order. */
  readonly members: readonly EtcdMember[];
  /** The certificates behind `https` client URLs, when TLS is on. */
  readonly certificates: TestCertificates | undefined;
  readonly #launched: Launched;
  readonly #isolated = new Set<EtcdMember>();
  #closed = false;

  /** @internal Use {@link startCluster}. */
  constructor(launched: Launched) {
    this.#launched = launched;
    this.members = [...launched.members];
    this.certificates = launched.certificates;
  }

  /** Every member's `clientUrl`, in member order: the endpoints to give a client. */
  get clientUrls(): string[] {
    return this.members.map((member) => member.clientUrl);
  }

  /** Members currently cut off by {@link EtcdCluster.isolate}. */
  get isolated(): readonly EtcdMember[] {
    return [...this.#isolated];
  }

  /**
   * The member that a majority of the cluster reports as leader (from `/v3/maintenance/status`). Polls until
   * there is one, so it also waits out an election.
   *
   * @throws When no majority agrees on a running leader within `timeoutMs`.
   */
  async leader(options: ClusterWaitOptions = {}): Promise<EtcdMember> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const quorum = Math.floor(this.members.length / 2) + 1;
    for (;;) {
      const votes = new Map<bigint, number>();
      const answering = this.members.filter((member) => member.running && !member.paused);
      const reports = await Promise.allSettled(answering.map((member) => member.status({ timeoutMs: 1000 })));
      for (const report of reports) {
        if (report.status !== "fulfilled" || report.value.leader === 0n) continue;
        votes.set(report.value.leader, (votes.get(report.value.leader) ?? 0) + 1);
      }
      for (const [id, count] of votes) {
        if (count < quorum) continue;
        const leader = await this.#memberById(id);
        if (leader?.running === true) return leader;
      }
      if (Date.now() >= deadline)
        throw new Error(`no leader agreed by ${quorum} members within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /**
   * Cuts `member` off from its peers in both directions while clients can still reach it: black-holes every
   * connection to its peer proxy and every connection from it to the other members' peer proxies (found by
   * the `X-Server-From` header of etcd's peer requests). The rest of the cluster keeps (or elects) a leader if
   * it has quorum; the isolated member loses its leader after the election timeout.
   *
   * @throws When the cluster was started with `faults: false`.
   */
  async isolate(member: EtcdMember): Promise<void> {
    if (!this.members.includes(member)) throw new Error(`${member.name} is not a member of this cluster`);
    const sender = (await member.memberId()).toString(16);
    const own = member.peerProxy;
    if (own === undefined) throw new Error("isolate() needs a cluster started with faults: true");
    own.blackhole();
    for (const other of this.members) if (other !== member) other.peerProxy?.blackhole({ label: sender });
    this.#isolated.add(member);
  }

  /**
   * Ends every network fault: isolation, and black holes or delays set on any member's `clientProxy` or
   * `peerProxy`. Peer connections that lost bytes are reset so etcd reconnects at once. Paused or killed
   * members stay as they are.
   */
  heal(): void {
    for (const member of this.members) {
      member.peerProxy?.heal({ resetBlackholed: true });
      member.clientProxy?.heal();
    }
    this.#isolated.clear();
  }

  /**
   * Resolves once every running member is healthy and knows a leader, e.g. after {@link EtcdCluster.heal}.
   *
   * @throws {EtcdStartError} When some member is not healthy within `timeoutMs`.
   */
  async waitHealthy(options: ClusterWaitOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    await Promise.all(
      this.members.filter((m) => m.running).map((member) => member.waitHealthy({ timeoutMs })),
    );
  }

  /** Kills every member, closes every proxy and removes every data dir. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeAll(this.#launched);
  }

  /** Same as {@link EtcdCluster.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #memberById(id: bigint): Promise<EtcdMember | undefined> {
    for (const member of this.members) if ((await member.memberId()) === id) return member;
    return undefined;
  }
}
