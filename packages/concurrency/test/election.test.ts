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
  resumeElection,
  type Session,
} from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { countingWatches, Etcdctl, text, waitForKeys } from "./helpers.js";

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
  const tools: Etcdctl[] = [];
  after(async () => {
    for (const tool of tools) await tool.kill();
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

  it("resumeElection: a restarted leader takes its campaign back from key and revision", async () => {
    const name = "election-test/resume";
    const first = await session(30);
    const won = createElection(first, name);
    await won.campaign("node-a");
    const { key, revision } = won;
    assert.ok(key !== undefined && revision !== undefined);
    await first.orphan(); // the process "crashes": its lease and key live on

    const adopted = await session();
    const restarted = await createSession(client, { lease: first.lease });
    sessions.push(restarted);
    const resumed = resumeElection(restarted, name, key, revision);
    assert.equal(resumed.isLeader(), true);
    assert.equal(resumed.key, key);
    assert.equal(resumed.revision, revision);
    await resumed.proclaim("node-a (restarted)");
    const leader = await electionLeader(client, name);
    assert.equal(text(leader?.value), "node-a (restarted)");
    assert.equal(leader?.createRevision, revision); // the same term: the key was never re-created

    // A Leader read back works as well (bytes key, createRevision).
    assert.ok(leader !== undefined);
    assert.equal(resumeElection(restarted, name, leader.key, leader.createRevision).isLeader(), true);

    const next = createElection(adopted, name);
    const nextLeads = next.campaign("node-b");
    await waitForKeys(client, `${name}/`, 2);
    assert.equal(next.isLeader(), false);
    await resumed.resign();
    await nextLeads;
    assert.equal(text((await electionLeader(client, name))?.value), "node-b");
    await next.resign();
  });

  it("resumeElection: a stale revision cannot proclaim or resign someone's new term", async () => {
    const name = "election-test/resume-stale";
    const s = await session();
    const election = createElection(s, name);
    await election.campaign("old term");
    const stale = election.revision ?? 0n;
    await election.resign();
    await election.campaign("new term"); // same lease, same key name, a new create revision
    const resumed = resumeElection(s, name, election.key ?? "", stale);
    await assert.rejects(resumed.proclaim("hijack"), (error) => ConcurrencyError.is(error, "not_leader"));
    assert.equal(resumed.isLeader(), false);
    await resumeElection(s, name, election.key ?? "", stale).resign();
    assert.equal(text((await election.leader())?.value), "new term");
    await election.resign();
  });

  it("resumeElection: takes over a campaign etcdctl won before it was killed (Go's ResumeElection)", async () => {
    const name = "election-test/resume-go";
    const tool = new Etcdctl(etcd.clientUrl, ["elect", name, "from go"]);
    tools.push(tool);
    const theirKey = await tool.nextLine();
    assert.equal(await tool.nextLine(), "from go");
    await tool.kill(); // SIGKILL: no resign, its session's lease (60 s) lives on
    const leader = await electionLeader(client, name);
    assert.ok(leader !== undefined);
    assert.equal(text(leader.key), theirKey);

    // The key names the lease: adopt it, then resume the campaign.
    const restarted = await createSession(client, { lease: leader.lease });
    sessions.push(restarted);
    assert.equal(`${name}/${restarted.lease.toString(16)}`, theirKey);
    const resumed = resumeElection(restarted, name, theirKey, leader.createRevision);
    await resumed.proclaim("taken over");
    assert.equal(text((await electionLeader(client, name))?.value), "taken over");
    await resumed.resign();
    assert.equal(await electionLeader(client, name), undefined);
  });

  it("resumeElection: refuses a key that is not the session's, and a bad revision", async () => {
    const s = await session();
    const name = "election-test/resume-bad";
    const mine = `${name}/${s.lease.toString(16)}`;
    const invalid = (error: unknown) => ConcurrencyError.is(error, "invalid_argument");
    assert.throws(() => resumeElection(s, name, `${name}/abc123`, 5n), invalid);
    assert.throws(() => resumeElection(s, "other", mine, 5n), invalid);
    assert.throws(() => resumeElection(s, name, 42 as unknown as string, 5n), invalid);
    for (const revision of [0n, -1n, 0, 1.5, Number.NaN]) {
      assert.throws(() => resumeElection(s, name, mine, revision), invalid);
    }
    assert.equal(resumeElection(s, name, mine, 7).revision, 7n);
  });
});
