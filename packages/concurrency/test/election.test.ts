import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import {
  ConcurrencyError,
  createElection,
  createSession,
  electionLeader,
  type Leader,
  observeElection,
  type Session,
} from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { countingWatches, text, waitForKeys } from "./helpers.js";

describe("election", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const sessions: Session[] = [];
  const session = async (ttl = 10) => {
    const s = await createSession(client, { ttl });
    sessions.push(s);
    return s;
  };

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => {});
    await client?.close();
    await etcd?.close();
  });

  it("campaign, leader, proclaim and resign, with Go's key layout", async () => {
    const s = await session();
    const election = createElection(s, "election-test/basic");
    assert.equal(await election.leader(), undefined);
    await election.campaign("node-a");
    assert.equal(election.isLeader(), true);
    assert.equal(election.key, `election-test/basic/${s.lease.toString(16)}`);

    const leader = await election.leader();
    assert.equal(text(leader?.key), election.key);
    assert.equal(text(leader?.value), "node-a");
    assert.equal(leader?.lease, s.lease);
    assert.equal(leader?.createRevision, election.revision);

    await election.proclaim("node-a (draining)");
    assert.equal(text((await electionLeader(client, "election-test/basic"))?.value), "node-a (draining)");
    await election.campaign("node-a again"); // while leading: a proclamation
    assert.equal(text((await election.leader())?.value), "node-a again");

    await election.resign();
    assert.equal(election.isLeader(), false);
    assert.equal(await election.leader(), undefined);
    await assert.rejects(election.proclaim("x"), (error) => ConcurrencyError.is(error, "not_leader"));
    await election.resign(); // not leading: nothing to do
  });

  it("the next candidate leads when the leader resigns; observe() follows every change", async () => {
    const counted = countingWatches(client);
    const a = createElection(await session(), "election-test/next");
    const b = createElection(await session(), "election-test/next");
    const abort = new AbortController();
    const seen = observeElection(counted.client, "election-test/next", { signal: abort.signal })[
      Symbol.asyncIterator
    ]();
    const next = async () => {
      const r = await seen.next();
      assert.equal(r.done, false);
      return text((r.value as Leader).value);
    };

    await a.campaign("a");
    assert.equal(await next(), "a");
    const bLeads = b.campaign("b");
    await waitForKeys(client, "election-test/next/", 2);
    assert.equal(b.isLeader(), false);
    await a.proclaim("a2");
    assert.equal(await next(), "a2");
    await a.resign();
    await bLeads;
    assert.equal(b.isLeader(), true);
    assert.equal(await next(), "b");

    abort.abort();
    assert.equal((await seen.next()).done, true);
    assert.equal(counted.open(), 0, "observe() left a watch open");
    await b.resign();
  });

  it("observe() starts on an empty election and ends its watch on break", async () => {
    const counted = countingWatches(client);
    const election = createElection(await session(), "election-test/observe");
    const values: string[] = [];
    const watching = counted.nextWatch();
    const observing = (async () => {
      for await (const leader of observeElection(counted.client, "election-test/observe")) {
        values.push(text(leader.value) ?? "");
        if (values.length === 2) break;
      }
    })();
    // Nobody leads yet: the observer waits on a watch of the prefix.
    await (await watching).ready;
    await election.campaign("first");
    await election.proclaim("second");
    await observing;
    assert.deepEqual(values, ["first", "second"]);
    assert.equal(counted.open(), 0, "observe() left a watch open after break");
    await election.resign();
  });

  it("an aborted campaign withdraws its candidacy", async () => {
    const a = createElection(await session(), "election-test/abort");
    const b = createElection(await session(), "election-test/abort");
    await a.campaign("a");
    const abort = new AbortController();
    const waiting = b.campaign("b", { signal: abort.signal });
    await waitForKeys(client, "election-test/abort/", 2);
    await assert.rejects(b.campaign("again"), (error) => ConcurrencyError.is(error, "already_campaigning"));
    abort.abort();
    await assert.rejects(waiting, (error) => ConcurrencyError.is(error, "canceled"));
    assert.equal((await client.get("election-test/abort/", { prefix: true, countOnly: true })).count, 1n);
    assert.equal(b.key, undefined);
    await a.resign();
  });

  it("a leader whose key is gone cannot proclaim", async () => {
    const s = await session(3);
    const election = createElection(s, "election-test/gone");
    await election.campaign("a");
    await client.delete(election.key ?? ""); // e.g. an operator removed it
    await assert.rejects(election.proclaim("b"), (error) => ConcurrencyError.is(error, "not_leader"));
    assert.equal(election.isLeader(), false);
    assert.equal(await election.leader(), undefined);
  });
});
