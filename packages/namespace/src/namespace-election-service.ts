import type { Bytes, ElectionService, LeaderKey, LeaderResponse } from "@etcd-connect/client";
import { invalidArgument, outsidePrefix } from "./errors.js";
import { namespacePrefix, prefixName, stripPrefix } from "./prefix.js";
import { stripKeyValue } from "./strip-responses.js";

/** The leader key as the layer below knows it: name and key under the prefix, the rest kept. */
function prefixLeader(prefix: Uint8Array, leader: LeaderKey): LeaderKey {
  // Checked here, not only below: an empty name or key would pass there once prefixed.
  if (typeof leader !== "object" || leader === null) {
    throw invalidArgument("leader must be the LeaderKey that campaign returned");
  }
  return {
    ...leader,
    name: prefixName(prefix, leader.name, "leader.name"),
    key: prefixName(prefix, leader.key, "leader.key"),
  };
}

/** The leader key campaign answered, seen from inside the namespace. */
function stripLeader(prefix: Uint8Array, leader: LeaderKey): LeaderKey {
  const name = stripPrefix(prefix, leader.name);
  const key = stripPrefix(prefix, leader.key);
  if (name === undefined || key === undefined) {
    throw outsidePrefix("campaign", "the candidacy is held under the lease: revoke the lease to withdraw it");
  }
  return { ...leader, name, key };
}

/** A leader answer with its key stripped; `method` names the call for the error. */
function stripLeaderResponse(prefix: Uint8Array, res: LeaderResponse, method: string): LeaderResponse {
  if (res.kv === undefined) return { ...res };
  const kv = stripKeyValue(prefix, res.kv);
  if (kv === undefined) throw outsidePrefix(method);
  return { ...res, kv };
}

/**
 * The answers of one observe of the layer below, stripped. for-await hands a `break` (or a
 * failure) on to the inner iterator, which ends the stream on the server.
 */
async function* observeStripped(
  inner: AsyncIterable<LeaderResponse>,
  prefix: Uint8Array,
): AsyncGenerator<LeaderResponse, void, undefined> {
  for await (const res of inner) yield stripLeaderResponse(prefix, res, "observe");
}

/**
 * etcd's election service confined to `prefix`: the election `name` is `prefix + name`, so
 * etcd writes each candidate's key as `prefix + name/<lease id in hex>`. Every name and key
 * that comes back is without the prefix: the {@link LeaderKey} of `campaign` (`name` and
 * `key`) and the leader's `kv.key` from `leader` and `observe`. `proclaim` and `resign` take
 * that LeaderKey and put the prefix back. The same name in two namespaces is two elections; an
 * election here and a `createElection` of `@etcd-connect/concurrency` over
 * `namespace(client, prefix)` on the same name are one.
 *
 * An empty name or key is refused (reason `invalid_argument`): prefixed, it would be the
 * prefix itself. The lease is not confined: lease ids are global, as in `namespaceLease`.
 *
 * @example
 * const elections = namespaceElectionService(client.electionService, "tenant-a/");
 * const leader = await elections.campaign("scheduler", id, "node-1"); // etcd key "tenant-a/scheduler/<lease hex>"
 * console.log(new TextDecoder().decode(leader.key)); // "scheduler/<lease hex>"
 * await elections.resign(leader);
 */
export function namespaceElectionService(elections: ElectionService, prefix: Bytes): ElectionService {
  const pfx = namespacePrefix(prefix);
  return {
    campaign: async (name, lease, value, options) =>
      stripLeader(pfx, await elections.campaign(prefixName(pfx, name, "name"), lease, value, options)),
    proclaim: async (leader, value, options) => elections.proclaim(prefixLeader(pfx, leader), value, options),
    leader: async (name, options) => {
      const res = await elections.leader(prefixName(pfx, name, "name"), options);
      return res === undefined ? undefined : stripLeaderResponse(pfx, res, "leader");
    },
    observe: (name, options) => {
      // Bad input throws here, before anything is sent, as the client's observe does.
      const inner = elections.observe(prefixName(pfx, name, "name"), options);
      return { [Symbol.asyncIterator]: () => observeStripped(inner, pfx) };
    },
    resign: async (leader, options) => elections.resign(prefixLeader(pfx, leader), options),
  };
}
