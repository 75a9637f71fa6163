// The namespaced lock service against a recording fake: what reaches the layer below, and what
// an answer outside the prefix (which etcd never sends) turns into. The real-etcd behaviour is
// in test/lock-election-service.test.ts.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { bytesToText, EtcdError, type LockResponse, type LockService } from "@etcd-connect/client";
import { namespaceLockService } from "./namespace-lock-service.js";

const text = (value: string) => new TextEncoder().encode(value);

/** A lock service that records the names and keys it is given and answers with `answerKey`. */
function recordingLocks(answerKey: (name: Uint8Array) => Uint8Array) {
  const calls: string[] = [];
  const answers: LockResponse[] = [];
  const locks: LockService = {
    lock: async (name) => {
      const bytes = name as Uint8Array;
      calls.push(`lock ${bytesToText(bytes)}`);
      const res: LockResponse = { $typeName: "v3lockpb.LockResponse", key: answerKey(bytes) };
      answers.push(res);
      return res;
    },
    unlock: async (key) => {
      calls.push(`unlock ${bytesToText(key as Uint8Array)}`);
      return { $typeName: "v3lockpb.UnlockResponse" };
    },
  };
  return { locks, calls, answers };
}

describe("namespaceLockService", () => {
  it("prefixes the name and the key, and strips the answered key into a new response", async () => {
    const { locks, calls, answers } = recordingLocks((name) => text(`${bytesToText(name)}/1a`));
    const ns = namespaceLockService(locks, "t/");
    const res = await ns.lock("job", { lease: 26 });
    assert.equal(bytesToText(res.key), "job/1a");
    // The layer below keeps its own answer untouched.
    assert.equal(bytesToText(answers[0]?.key ?? new Uint8Array()), "t/job/1a");
    await ns.unlock(res.key);
    assert.deepEqual(calls, ["lock t/job", "unlock t/job/1a"]);
  });

  it("fails, naming the held lock, when the answered key is outside the prefix", async () => {
    const { locks } = recordingLocks(() => text("other/job/1a"));
    const error = await namespaceLockService(locks, "t/")
      .lock("job", { lease: 26 })
      .then(
        () => assert.fail("expected a failure"),
        (e: unknown) => e,
      );
    assert.ok(error instanceof EtcdError);
    assert.equal(error.code, Code.Internal);
    assert.equal(error.reason, "unknown");
    assert.match(error.message, /^lock answered with a key outside the namespace prefix; .*revoke the lease/);
    // Someone else's key stays out of the message.
    assert.doesNotMatch(error.message, /other/);
  });

  it("refuses an empty name or key, and an empty prefix, without calling the layer below", async () => {
    const { locks, calls } = recordingLocks((name) => name);
    const ns = namespaceLockService(locks, "t/");
    await assert.rejects(ns.lock("", { lease: 1 }), {
      reason: "invalid_argument",
      message: /name must not be empty/,
    });
    await assert.rejects(ns.unlock(new Uint8Array()), {
      reason: "invalid_argument",
      message: /key must not be empty/,
    });
    await assert.rejects(ns.unlock(42 as unknown as string), { reason: "invalid_argument" });
    assert.throws(() => namespaceLockService(locks, ""), { reason: "invalid_argument" });
    assert.deepEqual(calls, []);
  });
});
