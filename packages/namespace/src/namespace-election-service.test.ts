// The namespaced election service against a recording fake: what reaches the layer below, and
// what answers outside the prefix (which etcd never sends) turn into. The real-etcd behaviour is
// in test/lock-election-service.test.ts.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  bytesToText,
  type ElectionService,
  type EtcdApi,
  EtcdError,
  type LeaderKey,
  type LeaderResponse,
  type LockService,
} from "@etcd-connect/client";
import { namespace } from "./namespace.js";
import { namespaceElectionService } from "./namespace-election-service.js";

const text = (value: string) => new TextEncoder().encode(value);

function leaderKey(name: string, key: string): LeaderKey {
  return { $typeName: "v3electionpb.LeaderKey", name: text(name), key: text(key), rev: 7n, lease: 26n };
}

function leaderResponse(key: string | undefined): LeaderResponse {
  return {
    $typeName: "v3electionpb.LeaderResponse",
    kv:
      key === undefined
        ? undefined
        : {
            $typeName: "mvccpb.KeyValue",
            key: text(key),
            value: text("v"),
            createRevision: 7n,
            modRevision: 7n,
            version: 1n,
            lease: 26n,
          },
  };
}

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

interface Answers {
  campaign?: LeaderKey;
  leader?: LeaderResponse | undefined;
  observe?: LeaderResponse[];
}

/** An election service that records what it is given and answers as told. */
function recordingElections(answers: Answers) {
  const calls: string[] = [];
  const observeEnded = { value: false };
  const show = (leader: LeaderKey) => `${bytesToText(leader.name)} ${bytesToText(leader.key)}`;
  const elections: ElectionService = {
    campaign: async (name) => {
      calls.push(`campaign ${bytesToText(name as Uint8Array)}`);
      return answers.campaign ?? leaderKey(bytesToText(name as Uint8Array), "unused");
    },
    proclaim: async (leader) => {
      calls.push(`proclaim ${show(leader)}`);
      return { $typeName: "v3electionpb.ProclaimResponse" };
    },
    leader: async (name) => {
      calls.push(`leader ${bytesToText(name as Uint8Array)}`);
      return answers.leader;
    },
    observe: (name) => {
      calls.push(`observe ${bytesToText(name as Uint8Array)}`);
      return (async function* () {
        try {
          yield* answers.observe ?? [];
        } finally {
          observeEnded.value = true;
        }
      })();
    },
    resign: async (leader) => {
      calls.push(`resign ${show(leader)}`);
      return { $typeName: "v3electionpb.ResignResponse" };
    },
  };
  return { elections, calls, observeEnded };
}

describe("namespaceElectionService", () => {
  it("prefixes names and leader keys, strips the answers, and leaves the caller's LeaderKey alone", async () => {
    const campaign = leaderKey("t/e", "t/e/1a");
    const { elections, calls } = recordingElections({ campaign, leader: leaderResponse("t/e/1a") });
    const ns = namespaceElectionService(elections, "t/");
    const leader = await ns.campaign("e", 26n, "v");
    assert.deepEqual(
      [bytesToText(leader.name), bytesToText(leader.key), leader.rev, leader.lease],
      ["e", "e/1a", 7n, 26n],
    );
    // The layer below keeps its own answer untouched.
    assert.equal(bytesToText(campaign.key), "t/e/1a");
    assert.equal(bytesToText((await ns.leader("e"))?.kv?.key ?? new Uint8Array()), "e/1a");
    await ns.proclaim(leader, "w");
    await ns.resign(leader);
    assert.equal(bytesToText(leader.key), "e/1a");
    assert.deepEqual(calls, ["campaign t/e", "leader t/e", "proclaim t/e t/e/1a", "resign t/e t/e/1a"]);
  });

  it("passes on an empty election and a leader answer without a key-value", async () => {
    assert.equal(
      await namespaceElectionService(recordingElections({}).elections, "t/").leader("e"),
      undefined,
    );
    const res = await namespaceElectionService(
      recordingElections({ leader: leaderResponse(undefined) }).elections,
      "t/",
    ).leader("e");
    assert.equal(res?.kv, undefined);
  });

  it("fails when campaign, leader or observe answer a key outside the prefix", async () => {
    for (const campaign of [leaderKey("other/e", "t/e/1a"), leaderKey("t/e", "other/e/1a")]) {
      const ns = namespaceElectionService(recordingElections({ campaign }).elections, "t/");
      const error = await failure(ns.campaign("e", 26n, "v"));
      assert.equal(error.code, Code.Internal);
      assert.match(
        error.message,
        /^campaign answered with a key outside the namespace prefix; .*revoke the lease/,
      );
    }
    const foreign = recordingElections({ leader: leaderResponse("other/e/1a") }).elections;
    const error = await failure(namespaceElectionService(foreign, "t/").leader("e"));
    assert.equal(error.message, "leader answered with a key outside the namespace prefix");

    const { elections, observeEnded } = recordingElections({
      observe: [leaderResponse("t/e/1a"), leaderResponse("other/e/1a")],
    });
    const seen: string[] = [];
    const iterating = (async () => {
      for await (const res of namespaceElectionService(elections, "t/").observe("e")) {
        seen.push(bytesToText(res.kv?.key ?? new Uint8Array()));
      }
    })();
    assert.equal(
      (await failure(iterating)).message,
      "observe answered with a key outside the namespace prefix",
    );
    assert.deepEqual(seen, ["e/1a"]);
    // The failure ended the stream below too.
    assert.equal(observeEnded.value, true);
  });

  it("leaving observe's loop ends the stream below", async () => {
    const { elections, calls, observeEnded } = recordingElections({
      observe: [leaderResponse("t/e/1a"), leaderResponse("t/e/2b")],
    });
    for await (const res of namespaceElectionService(elections, "t/").observe("e")) {
      assert.equal(bytesToText(res.kv?.key ?? new Uint8Array()), "e/1a");
      break;
    }
    assert.equal(observeEnded.value, true);
    assert.deepEqual(calls, ["observe t/e"]);
  });

  it("refuses empty names, empty leader names or keys, and a missing leader without calling below", async () => {
    const { elections, calls } = recordingElections({});
    const ns = namespaceElectionService(elections, "t/");
    const leader = leaderKey("e", "e/1a");
    assert.equal((await failure(ns.campaign("", 26n, "v"))).reason, "invalid_argument");
    assert.equal((await failure(ns.leader(""))).reason, "invalid_argument");
    assert.throws(() => ns.observe(""), { reason: "invalid_argument" });
    assert.equal((await failure(ns.proclaim({ ...leader, name: text("") }, "v"))).reason, "invalid_argument");
    assert.equal((await failure(ns.resign({ ...leader, key: text("") }))).reason, "invalid_argument");
    const missing = undefined as unknown as LeaderKey;
    assert.match((await failure(ns.resign(missing))).message, /LeaderKey that campaign returned/);
    assert.deepEqual(calls, []);
  });
});

describe("namespace(target, prefix) and the services", () => {
  // Only what namespace() touches while it is built: nothing is called here.
  const bare = { lease: {} } as unknown as EtcdApi;

  it("has no lock or election service when the target has none", () => {
    const ns = namespace(bare, "t/");
    assert.equal("lockService" in ns, false);
    assert.equal("electionService" in ns, false);
    // @ts-expect-error: the type of a bare EtcdApi's namespace has no lock service either.
    assert.equal(ns.lockService, undefined);
  });

  it("carries confined services when the target has them, and keeps prefix a fresh copy", async () => {
    const { elections, calls } = recordingElections({ campaign: leaderKey("t/e", "t/e/1a") });
    const locks: LockService = {
      lock: async (name) => ({
        $typeName: "v3lockpb.LockResponse",
        key: text(`${bytesToText(name as Uint8Array)}/1a`),
      }),
      unlock: async () => ({ $typeName: "v3lockpb.UnlockResponse" }),
    };
    const ns = namespace({ ...bare, lockService: locks, electionService: elections }, "t/");
    assert.equal(bytesToText((await ns.lockService.lock("job", { lease: 26 })).key), "job/1a");
    assert.equal(bytesToText((await ns.electionService.campaign("e", 26n, "v")).key), "e/1a");
    assert.deepEqual(calls, ["campaign t/e"]);
    ns.prefix.fill(0);
    assert.equal(bytesToText(ns.prefix), "t/");
  });
});
