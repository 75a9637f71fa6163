import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, EtcdError } from "@etcd-connect/client";
import {
  createElection,
  createSession,
  type Election,
  observeElection,
  type Session,
  type SessionEnd,
} from "@etcd-connect/concurrency";
import { type EtcdCluster, type EtcdMember, integrationOptions, startCluster } from "@etcd-connect/testing";
import { text, waitForKeys } from "./helpers.js";

const ttl = 2;

interface Candidate {
  name: string;
  client: Client;
  session: Session;
  election: Election;
  /** Set from the moment campaign() resolves until the session's `done` settles. */
  leading: boolean;
}

describe(`election failover on a 3-member cluster (session TTL ${ttl} s)`, integrationOptions(), () => {
  let cluster: EtcdCluster;
  const clients: Client[] = [];
  /** Observers to stop before the clients close, should a test fail half-way. */
  const observers: AbortController[] = [];
  /** What happened, in order: "<name> leads", "<name> done", "observed <name>". */
  let events: string[] = [];
  let violations: string[] = [];

  const newClient = (members: EtcdMember[]) => {
    const client = createClient({ endpoints: members.map((m) => m.clientUrl) });
    clients.push(client);
    return client;
  };

  /** A candidate whose client talks to `member` only. */
  async function candidate(name: string, member: EtcdMember, election: string, all: Candidate[]) {
    const client = newClient([member]);
    const session = await createSession(client, { ttl });
    const c: Candidate = {
      name,
      client,
      session,
      election: createElection(session, election),
      leading: false,
    };
    void session.done.then(() => {
      c.leading = false;
      events.push(`${name} done`);
    });
    all.push(c);
    return c;
  }

  /** Campaigns; on winning, checks that no other candidate still believes it leads. */
  async function campaign(c: Candidate, all: Candidate[], signal?: AbortSignal): Promise<void> {
    await c.election.campaign(c.name, signal === undefined ? {} : { signal });
    const others = all.filter((o) => o !== c && o.leading).map((o) => o.name);
    if (others.length > 0) violations.push(`${c.name} leads while ${others.join(", ")} still lead`);
    c.leading = true;
    events.push(`${c.name} leads`);
  }

  async function resign(c: Candidate): Promise<void> {
    c.leading = false;
    events.push(`${c.name} resigns`);
    await c.election.resign();
  }

  /**
   * Follows the election until `last` leads; every leader it reports must be the only
   * candidate that believes it leads.
   */
  function watchLeaders(
    client: Client,
    election: string,
    all: Candidate[],
    last: string,
    signal: AbortSignal,
  ) {
    const seen: string[] = [];
    const done = (async () => {
      for await (const leader of observeElection(client, election, { signal })) {
        const name = text(leader.value) ?? "";
        seen.push(name);
        events.push(`observed ${name}`);
        const others = all.filter((o) => o.name !== name && o.leading).map((o) => o.name);
        if (others.length > 0) violations.push(`observed ${name} while ${others.join(", ")} still lead`);
        if (name === last) break;
      }
    })();
    return { seen, done };
  }

  before(async () => {
    cluster = await startCluster({ size: 3 });
  });
  after(async () => {
    for (const stop of observers) stop.abort();
    for (const client of clients) await client.close();
    await cluster?.close();
  });

  it("the leader's lease is revoked: the next candidate leads within the TTL", async () => {
    events = [];
    violations = [];
    const all: Candidate[] = [];
    const [m0, m1, m2] = cluster.members as [EtcdMember, EtcdMember, EtcdMember];
    const a = await candidate("a", m0, "failover/revoke", all);
    const b = await candidate("b", m1, "failover/revoke", all);
    const operator = newClient([m2]);
    const stop = new AbortController();
    observers.push(stop);
    const observer = watchLeaders(operator, "failover/revoke", all, "b", stop.signal);

    await campaign(a, all);
    const bLeads = new AbortController();
    const bCampaign = campaign(b, all, bLeads.signal);
    await waitForKeys(operator, "failover/revoke/", 2);

    await operator.lease.revoke(a.session.lease);
    // The bound is the requirement itself (next leader within the TTL), not a speed guess:
    // past it, b's campaign is aborted and the test fails with `canceled`.
    const deadline = setTimeout(() => bLeads.abort(), ttl * 1000);
    await bCampaign;
    clearTimeout(deadline);
    assert.equal(b.election.isLeader(), true);

    // a learns it at its next keepalive (etcd answers TTL 0), at most a third of the TTL later.
    const end = await a.session.done;
    assert.ok(EtcdError.is(end, "lease_not_found"), String(end));
    assert.equal(a.election.isLeader(), false);

    await observer.done;
    await resign(b);
    assert.deepEqual(observer.seen, ["a", "b"]);
    // No check of `violations` here: a revoke by someone else cannot be seen before it happens,
    // so a believes it leads until its next keepalive. Expiry is what `done` comes early for.
    for (const c of all) await c.session.close();
  });

  it("the leader's member is killed: its session ends before the next leader appears, never two at once", async () => {
    events = [];
    violations = [];
    const all: Candidate[] = [];
    const raftLeader = await cluster.leader();
    const [victim, m1, m2] = [...cluster.members.filter((m) => m !== raftLeader), raftLeader] as [
      EtcdMember,
      EtcdMember,
      EtcdMember,
    ];
    const a = await candidate("a", victim, "failover/kill", all);
    const b = await candidate("b", m1, "failover/kill", all);
    const c = await candidate("c", m2, "failover/kill", all);
    const watcher = newClient([m1, m2]);
    const stop = new AbortController();
    observers.push(stop);
    const observer = watchLeaders(watcher, "failover/kill", all, "c", stop.signal);

    await campaign(a, all);
    const bCampaign = campaign(b, all);
    await waitForKeys(watcher, "failover/kill/", 2);
    const cCampaign = campaign(c, all);
    await waitForKeys(watcher, "failover/kill/", 3);

    await victim.kill();
    const end: SessionEnd = await a.session.done;
    assert.ok(EtcdError.is(end, "lease_expired"), String(end));
    await bCampaign;
    assert.equal(c.election.isLeader(), false);

    await resign(b);
    await cCampaign;
    await observer.done;

    assert.deepEqual(violations, []);
    assert.deepEqual(observer.seen, ["a", "b", "c"]);
    // a stopped leading before anyone else led or was seen leading.
    assert.ok(events.indexOf("a done") < events.indexOf("b leads"), events.join(", "));
    assert.ok(events.indexOf("a done") < events.indexOf("observed b"), events.join(", "));

    await a.session.orphan(); // its member is gone: nothing to revoke through
    await b.session.close();
    await c.session.close();
  });
});
