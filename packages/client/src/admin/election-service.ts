import { create } from "@bufbuild/protobuf";
import { Code, type Client as ConnectClient, ConnectError } from "@connectrpc/connect";
import {
  CampaignRequestSchema,
  type Election as ElectionRpc,
  type LeaderKey,
  LeaderKeySchema,
  type LeaderRequest,
  LeaderRequestSchema,
  type LeaderResponse,
  ProclaimRequestSchema,
  type ProclaimResponse,
  ResignRequestSchema,
  type ResignResponse,
} from "@etcd-connect/api/v3electionpb";
import { type Bytes, toBytes } from "../bytes.js";
import { type CallOptions, callEtcd, rpcCallOptions } from "../call-options.js";
import { EtcdError, invalidArgument, toEtcdError } from "../errors.js";
import { type Int64Like, toInt64 } from "../int64.js";
import { nonEmptyBytes } from "./lock-service.js";

/**
 * etcd's election service (`v3electionpb.Election`, as jetcd's `Election`): leader elections
 * that the etcd member runs on the caller's behalf. They are the elections of Go's
 * `concurrency.Election` and of `@etcd-connect/concurrency`'s `createElection`: each
 * candidate's key is `name/<lease id in hex>`, the oldest one leads, and its value is the
 * leader's proclamation, so all of them take part in the same election.
 *
 * A {@link LeaderKey} (from `campaign`) is all it takes to act as that leader later, from any
 * client. Leadership ends with `resign`, or when the campaign's lease is revoked or expires.
 *
 * @example
 * const { ID } = await client.lease.grant(10);
 * const leader = await elections.campaign("elections/scheduler", ID, "node-1");
 * await elections.proclaim(leader, "node-1 (draining)");
 * await elections.resign(leader);
 */
export interface ElectionService {
  /**
   * Waits until the caller leads election `name`, with `value` as its proclamation, and
   * resolves with the {@link LeaderKey} that stands for the leadership. `lease` (an id above
   * 0) holds the candidacy and then the leadership: keep it alive for as long as you lead. A
   * candidate whose `signal` or `timeoutMs` ends the wait is withdrawn by etcd.
   */
  campaign(name: Bytes, lease: Int64Like, value: Bytes, options?: CallOptions): Promise<LeaderKey>;
  /**
   * Replaces the leader's proclamation. etcd refuses it (message `election: not leader`) when
   * `leader` no longer leads.
   */
  proclaim(leader: LeaderKey, value: Bytes, options?: CallOptions): Promise<ProclaimResponse>;
  /**
   * The current leader of election `name`: its key and proclamation (`kv`), or undefined when
   * nobody leads.
   */
  leader(name: Bytes, options?: CallOptions): Promise<LeaderResponse | undefined>;
  /**
   * The leader of election `name` each time it changes: the current one first (once there is
   * one), then every proclamation and every new leader. Leaving the loop, the `signal`
   * aborting or `timeoutMs` passing ends it; the `signal` ends it quietly, the others with an
   * EtcdError. The stream is not resumed after a failure: start again, and the first answer
   * is the current leader.
   */
  observe(name: Bytes, options?: CallOptions): AsyncIterable<LeaderResponse>;
  /**
   * Gives the leadership up, so the next candidate leads. A `leader` that no longer leads is
   * no error: nothing is deleted.
   */
  resign(leader: LeaderKey, options?: CallOptions): Promise<ResignResponse>;
}

// What etcd answers Leader with when nobody leads (Go's concurrency.ErrElectionNoLeader).
const noLeaderMessage = "election: no leader";

/** The election service facade over a generated Connect client. */
export function createElectionService(rpc: ConnectClient<typeof ElectionRpc>): ElectionService {
  return {
    campaign: (name, lease, value, options) =>
      callEtcd(options, async (call) => {
        const res = await rpc.campaign(
          create(CampaignRequestSchema, {
            name: nonEmptyBytes("name", name),
            lease: toInt64("lease", lease, 1n),
            value: valueBytes(value),
          }),
          call,
        );
        if (res.leader === undefined) {
          throw new EtcdError("etcd answered Campaign without a leader key", Code.Internal, "unknown");
        }
        return res.leader;
      }),
    proclaim: (leader, value, options) =>
      callEtcd(options, (call) =>
        rpc.proclaim(
          create(ProclaimRequestSchema, { leader: leaderKey(leader), value: valueBytes(value) }),
          call,
        ),
      ),
    leader: (name, options) =>
      callEtcd(options, async (call) => {
        const request = create(LeaderRequestSchema, { name: nonEmptyBytes("name", name) });
        try {
          return await rpc.leader(request, call);
        } catch (error) {
          // An empty election is an answer, not a failure.
          const ce = ConnectError.from(error);
          if (ce.code === Code.Unknown && ce.rawMessage === noLeaderMessage) return undefined;
          throw error;
        }
      }),
    observe: (name, options) => {
      // Checked now, so bad input throws here rather than at the first iteration.
      const request = create(LeaderRequestSchema, { name: nonEmptyBytes("name", name) });
      return { [Symbol.asyncIterator]: () => observeLeader(rpc, request, options) };
    },
    resign: (leader, options) =>
      callEtcd(options, (call) =>
        rpc.resign(create(ResignRequestSchema, { leader: leaderKey(leader) }), call),
      ),
  };
}

/**
 * The answers of one Observe stream. Connect closes a server stream only when its signal
 * aborts, not when the consumer stops iterating, so the stream gets its own controller and
 * `return()` (a `break` in for-await) aborts it.
 */
async function* observeLeader(
  rpc: ConnectClient<typeof ElectionRpc>,
  request: LeaderRequest,
  options: CallOptions | undefined,
): AsyncGenerator<LeaderResponse, void, undefined> {
  const controller = new AbortController();
  // rpcCallOptions: a per-call requireLeader travels in contextValues, as for every other call.
  const call = rpcCallOptions(options);
  const callerSignal = call.signal;
  call.signal =
    callerSignal === undefined ? controller.signal : AbortSignal.any([callerSignal, controller.signal]);
  try {
    const stream = rpc.observe(request, call)[Symbol.asyncIterator]();
    for (;;) {
      const next = await stream.next();
      if (next.done) return;
      yield next.value;
    }
  } catch (error) {
    if (callerSignal?.aborted === true) return;
    throw toEtcdError(error);
  } finally {
    controller.abort();
  }
}

// A proclamation: text or bytes, empty allowed.
function valueBytes(value: Bytes): Uint8Array {
  if (typeof value !== "string" && !(value instanceof Uint8Array)) {
    throw invalidArgument("value must be a string or Uint8Array");
  }
  return toBytes(value);
}

// The leader key as campaign returned it. etcd resumes the election from it: the key and its
// create revision decide whether it still leads, and the lease is what a proclamation is put
// under (0 would make etcd grant a fresh lease and attach the leader's key to it).
function leaderKey(leader: LeaderKey): LeaderKey {
  if (typeof leader !== "object" || leader === null) {
    throw invalidArgument("leader must be the LeaderKey that campaign returned");
  }
  return create(LeaderKeySchema, {
    name: nonEmptyBytes("leader.name", leader.name),
    key: nonEmptyBytes("leader.key", leader.key),
    rev: toInt64("leader.rev", leader.rev, 1n),
    lease: toInt64("leader.lease", leader.lease, 1n),
  });
}
