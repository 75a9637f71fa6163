// etcd's lock and election services through a namespace: etcd writes the keys under the prefix,
// every name and key handed back is without it, and namespaces do not meet.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  bytesToText,
  type Client,
  createClient,
  type ElectionService,
  EtcdError,
  type LeaderResponse,
  type LockService,
} from "@etcd-connect/client";
import { namespace, namespaceElectionService, namespaceLockService } from "@etcd-connect/namespace";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { keysOf, waitFor } from "./helpers.js";

// Go's concurrency key of a lease under a lock or election name, as etcd's services write it.
const goKey = (name: string, lease: bigint) => `${name}/${lease.toString(16)}`;

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

/** The leader answer as `key=value`, or "nobody". */
function leaderOf(res: LeaderResponse | undefined): string {
  const kv = res?.kv;
  return kv === undefined ? "nobody" : `${bytesToText(kv.key)}=${bytesToText(kv.value)}`;
}

describe("lock and election services in a namespace", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  let locks: LockService;
  let elections: ElectionService;

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
    locks = namespaceLockService(client.lockService, "tenants/a/");
    elections = namespaceElectionService(client.electionService, "tenants/a/");
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  const lease = async () => (await client.lease.grant(30)).ID;
  // The etcd keys under a full prefix, oldest first: the holder, then the waiters in turn.
  const queue = async (prefix: string) =>
    keysOf((await client.get(prefix, { prefix: true, sortTarget: "create", sortOrder: "ascend" })).kvs);

  describe("lock", () => {
    it("writes its key under the prefix and returns it without; unlock takes that key", async () => {
      const id = await lease();
      const held = await locks.lock("locks/report", { lease: id });
      assert.equal(bytesToText(held.key), goKey("locks/report", id));
      assert.deepEqual(await queue("tenants/a/locks/report/"), [goKey("tenants/a/locks/report", id)]);
      assert.equal((await client.get(goKey("tenants/a/locks/report", id))).kvs[0]?.lease, id);
      // The key guards writes inside the namespace, as it would outside.
      const tenant = namespace(client, "tenants/a/");
      assert.equal(await tenant.exists(held.key), true);
      // Locking again under the same lease answers the same (stripped) key at once.
      assert.deepEqual((await locks.lock("locks/report", { lease: id })).key, held.key);

      await locks.unlock(held.key);
      assert.deepEqual(await queue("tenants/a/locks/report/"), []);
      await client.lease.revoke(id);
    });

    it("serialises two holders in the same namespace: the second holds only after the first unlocks", async () => {
      const [first, second] = [await lease(), await lease()];
      const events: string[] = [];
      const held = await locks.lock("locks/serial", { lease: first });
      events.push("first holds");
      const waiting = locks.lock("locks/serial", { lease: second }).then((res) => {
        events.push("second holds");
        return res;
      });
      await waitFor(
        async () => (await queue("tenants/a/locks/serial/")).length === 2,
        10_000,
        "the second waiter's key",
      );
      events.push("first unlocks");
      await locks.unlock(held.key);
      const granted = await waiting;
      assert.deepEqual(events, ["first holds", "first unlocks", "second holds"]);
      assert.equal(bytesToText(granted.key), goKey("locks/serial", second));
      await locks.unlock(granted.key);
      await client.lease.revoke(first);
      await client.lease.revoke(second);
    });

    it("the same name in two namespaces is two locks: both are held at once", async () => {
      const other = namespaceLockService(client.lockService, "tenants/b/");
      const [a, b] = [await lease(), await lease()];
      // Neither waits for the other: both resolve while both are held. Were they one lock, the
      // second would wait until its timeout and fail the test rather than hang it.
      const [heldA, heldB] = await Promise.all([
        locks.lock("locks/shared", { lease: a, timeoutMs: 10_000 }),
        other.lock("locks/shared", { lease: b, timeoutMs: 10_000 }),
      ]);
      assert.equal(bytesToText(heldA.key), goKey("locks/shared", a));
      assert.equal(bytesToText(heldB.key), goKey("locks/shared", b));
      assert.deepEqual(await queue("tenants/a/locks/shared/"), [goKey("tenants/a/locks/shared", a)]);
      assert.deepEqual(await queue("tenants/b/locks/shared/"), [goKey("tenants/b/locks/shared", b)]);
      // Each unlock stays in its own namespace.
      await other.unlock(heldB.key);
      assert.deepEqual(await queue("tenants/a/locks/shared/"), [goKey("tenants/a/locks/shared", a)]);
      await locks.unlock(heldA.key);
      assert.deepEqual(await queue("tenants/"), []);
      await client.lease.revoke(a);
      await client.lease.revoke(b);
    });

    it("refuses an empty name or key before sending anything", async () => {
      const id = await lease();
      assert.equal((await failure(locks.lock("", { lease: id }))).reason, "invalid_argument");
      assert.equal((await failure(locks.lock(new Uint8Array(), { lease: id }))).reason, "invalid_argument");
      assert.equal((await failure(locks.unlock(""))).reason, "invalid_argument");
      // Prefixed, the empty name would have been the lock "tenants/a/".
      assert.deepEqual(await queue("tenants/a/"), []);
      await client.lease.revoke(id);
    });
  });

  describe("election", () => {
    it("campaign, leader, proclaim and resign: names and keys stripped, stored keys prefixed", async () => {
      const id = await lease();
      assert.equal(await elections.leader("elections/basic"), undefined);
      const leader = await elections.campaign("elections/basic", id, "node-1");
      assert.equal(bytesToText(leader.name), "elections/basic");
      assert.equal(bytesToText(leader.key), goKey("elections/basic", id));
      assert.equal(leader.lease, id);
      const stored = (await client.get(goKey("tenants/a/elections/basic", id))).kvs[0];
      assert.equal(bytesToText(stored?.value ?? new Uint8Array()), "node-1");
      assert.equal(leader.rev, stored?.createRevision);

      assert.equal(
        leaderOf(await elections.leader("elections/basic")),
        `${goKey("elections/basic", id)}=node-1`,
      );
      // The plain client sees the same election under the full name.
      assert.equal(
        leaderOf(await client.electionService.leader("tenants/a/elections/basic")),
        `${goKey("tenants/a/elections/basic", id)}=node-1`,
      );

      // proclaim and resign take the stripped LeaderKey, and leave it as it was.
      await elections.proclaim(leader, "node-1 (draining)");
      assert.deepEqual(
        [bytesToText(leader.name), bytesToText(leader.key)],
        ["elections/basic", goKey("elections/basic", id)],
      );
      assert.equal(
        leaderOf(await elections.leader("elections/basic")),
        `${goKey("elections/basic", id)}=node-1 (draining)`,
      );
      await elections.resign(leader);
      assert.equal(await elections.leader("elections/basic"), undefined);
      assert.deepEqual(await queue("tenants/a/elections/basic/"), []);
      await client.lease.revoke(id);
    });

    it("observe sees the first leader, its proclamation and the next leader, all stripped, in order", async () => {
      const name = "elections/observed";
      const [first, second] = [await lease(), await lease()];
      const stop = new AbortController();
      const observed = elections.observe(name, { signal: stop.signal })[Symbol.asyncIterator]();
      const next = async () => {
        const res = await observed.next();
        assert.ok(!res.done, "observe ended early");
        return leaderOf(res.value);
      };
      // Nobody leads yet: the first answer is whoever campaigns first.
      const firstAnswer = next();
      const one = await elections.campaign(name, first, "one");
      assert.equal(await firstAnswer, `${goKey(name, first)}=one`);
      await elections.proclaim(one, "one, again");
      assert.equal(await next(), `${goKey(name, first)}=one, again`);
      const campaigning = elections.campaign(name, second, "two");
      await waitFor(
        async () => (await queue(`tenants/a/${name}/`)).length === 2,
        10_000,
        "the second candidate's key",
      );
      await elections.resign(one);
      assert.equal(await next(), `${goKey(name, second)}=two`);
      const two = await campaigning;
      assert.equal(bytesToText(two.key), goKey(name, second));
      await elections.resign(two);
      // The caller's signal ends the iteration quietly.
      stop.abort();
      assert.equal((await observed.next()).done, true);
      await client.lease.revoke(first);
      await client.lease.revoke(second);
    });

    it("the same name in two namespaces is two elections: both lead at once", async () => {
      const other = namespaceElectionService(client.electionService, "tenants/b/");
      const [a, b] = [await lease(), await lease()];
      const [leaderA, leaderB] = await Promise.all([
        elections.campaign("elections/shared", a, "a", { timeoutMs: 10_000 }),
        other.campaign("elections/shared", b, "b", { timeoutMs: 10_000 }),
      ]);
      assert.equal(leaderOf(await elections.leader("elections/shared")), `${goKey("elections/shared", a)}=a`);
      assert.equal(leaderOf(await other.leader("elections/shared")), `${goKey("elections/shared", b)}=b`);
      await other.resign(leaderB);
      assert.equal(leaderOf(await other.leader("elections/shared")), "nobody");
      assert.equal(leaderOf(await elections.leader("elections/shared")), `${goKey("elections/shared", a)}=a`);
      await elections.resign(leaderA);
      await client.lease.revoke(a);
      await client.lease.revoke(b);
    });

    it("refuses an empty name, or a LeaderKey with an empty name or key, before sending anything", async () => {
      const id = await lease();
      assert.equal((await failure(elections.campaign("", id, "v"))).reason, "invalid_argument");
      assert.equal((await failure(elections.leader(""))).reason, "invalid_argument");
      assert.throws(() => elections.observe(""), { reason: "invalid_argument" });
      const leader = await elections.campaign("elections/input", id, "v");
      const nameless = { ...leader, name: new Uint8Array() };
      const keyless = { ...leader, key: new Uint8Array() };
      assert.equal((await failure(elections.proclaim(nameless, "x"))).reason, "invalid_argument");
      assert.equal((await failure(elections.resign(keyless))).reason, "invalid_argument");
      assert.equal(leaderOf(await elections.leader("elections/input")), `${goKey("elections/input", id)}=v`);
      await elections.resign(leader);
      await client.lease.revoke(id);
    });
  });

  describe("namespace(client, prefix)", () => {
    it("carries both services, and nests: a namespace of a namespace prefixes twice", async () => {
      const tenant = namespace(client, "tenants/n/");
      const team = namespace(tenant, "teams/red/");
      const id = await lease();

      const held = await team.lockService.lock("locks/deploy", { lease: id });
      assert.equal(bytesToText(held.key), goKey("locks/deploy", id));
      assert.deepEqual(await queue("tenants/n/"), [goKey("tenants/n/teams/red/locks/deploy", id)]);
      // The parent namespace sees the same lock one prefix up.
      assert.equal((await tenant.get(goKey("teams/red/locks/deploy", id))).count, 1n);
      await team.lockService.unlock(held.key);
      assert.deepEqual(await queue("tenants/n/"), []);

      const leader = await team.electionService.campaign("elections/lead", id, "red-1");
      assert.equal(bytesToText(leader.name), "elections/lead");
      assert.equal(bytesToText(leader.key), goKey("elections/lead", id));
      assert.deepEqual(await queue("tenants/n/"), [goKey("tenants/n/teams/red/elections/lead", id)]);
      assert.equal(
        leaderOf(await team.electionService.leader("elections/lead")),
        `${goKey("elections/lead", id)}=red-1`,
      );
      assert.equal(
        leaderOf(await tenant.electionService.leader("teams/red/elections/lead")),
        `${goKey("teams/red/elections/lead", id)}=red-1`,
      );
      for await (const res of team.electionService.observe("elections/lead")) {
        assert.equal(leaderOf(res), `${goKey("elections/lead", id)}=red-1`);
        break;
      }
      await team.electionService.proclaim(leader, "red-1 (leaving)");
      assert.equal(
        leaderOf(await team.electionService.leader("elections/lead")),
        `${goKey("elections/lead", id)}=red-1 (leaving)`,
      );
      await team.electionService.resign(leader);
      assert.deepEqual(await queue("tenants/n/"), []);
      await client.lease.revoke(id);
    });

    it("nested service wrappers behave as one with the joined prefix", async () => {
      const nestedLocks = namespaceLockService(namespaceLockService(client.lockService, "tenants/"), "x/");
      const id = await lease();
      const held = await nestedLocks.lock("locks/job", { lease: id });
      assert.equal(bytesToText(held.key), goKey("locks/job", id));
      assert.deepEqual(await queue("tenants/x/"), [goKey("tenants/x/locks/job", id)]);
      await nestedLocks.unlock(held.key);
      assert.deepEqual(await queue("tenants/x/"), []);
      await client.lease.revoke(id);
    });
  });
});
