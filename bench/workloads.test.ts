import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { roundsText } from "./report.js";
import { kvRounds, rounds, roundsOf, settleRoundsOf, workloads } from "./workloads.js";

describe("rounds per workload", () => {
  it("gives every KV workload, plaintext and TLS, more rounds than the others in a full run", () => {
    const byKind = new Map<string, Set<number>>();
    for (const workload of workloads(false)) {
      const kinds = byKind.get(workload.params.kind) ?? new Set<number>();
      kinds.add(roundsOf(workload, false));
      byKind.set(workload.params.kind, kinds);
    }
    assert.deepEqual(Object.fromEntries([...byKind].map(([kind, counts]) => [kind, [...counts]])), {
      put: [5],
      "get-linearizable": [5],
      "get-serializable": [5],
      txn: [5],
      "fan-in": [3],
      "catch-up": [3],
      watchers: [3],
      leases: [3],
    });
  });

  it("settles the member with one unrecorded round before each KV workload of a full run only", () => {
    for (const workload of workloads(false)) {
      const kv = roundsOf(workload, false) === kvRounds(false);
      assert.equal(settleRoundsOf(workload, false), kv ? 1 : 0, workload.id);
    }
    assert.deepEqual(new Set(workloads(true).map((w) => settleRoundsOf(w, true))), new Set([0]));
  });

  it("runs one round of everything in quick mode", () => {
    assert.deepEqual(new Set(workloads(true).map((w) => roundsOf(w, true))), new Set([1]));
  });

  it("says how many rounds ran, naming the KV workloads' count when it differs", () => {
    assert.equal(
      roundsText({ rounds: rounds(false), kvRounds: kvRounds(false) }),
      "3 rounds (5 for KV workloads)",
    );
    assert.equal(roundsText({ rounds: 1, kvRounds: 1 }), "1 round(s)");
    // Results written before the KV workloads had their own count.
    assert.equal(roundsText({ rounds: 3 }), "3 round(s)");
  });
});
