import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  type CampaignRequest,
  CampaignResponseSchema,
  Election,
  type LeaderKey,
  LeaderKeySchema,
  type LeaderRequest,
  type LeaderResponse,
  LeaderResponseSchema,
  type ProclaimRequest,
  ProclaimResponseSchema,
  type ResignRequest,
  ResignResponseSchema,
} from "@etcd-connect/api/v3electionpb";
import { EtcdError } from "../errors.js";
import { createElectionService } from "./election-service.js";

const text = (value: string) => new TextEncoder().encode(value);

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

const leaderKey = (): LeaderKey =>
  create(LeaderKeySchema, { name: text("e"), key: text("e/2a"), rev: 5n, lease: 42n });

const answer = (value: string, revision: bigint): LeaderResponse =>
  create(LeaderResponseSchema, {
    header: { revision },
    kv: { key: text("e/2a"), value: text(value), modRevision: revision },
  });

interface FakeElection {
  /** What Campaign answers; default: a leader key. */
  campaign?: () => unknown;
  /** What Leader answers or throws. */
  leader?: () => LeaderResponse;
  /** The Observe stream; it sees the handler's signal. */
  observe?: (signal: AbortSignal) => AsyncIterable<LeaderResponse>;
}

// An Election service in memory that records every request.
function fakeElection(fake: FakeElection = {}) {
  const sent = {
    campaigns: [] as CampaignRequest[],
    proclaims: [] as ProclaimRequest[],
    resigns: [] as ResignRequest[],
    leaders: [] as LeaderRequest[],
  };
  const transport = createRouterTransport(({ service }) =>
    service(Election, {
      campaign(request) {
        sent.campaigns.push(request);
        return (fake.campaign?.() ?? create(CampaignResponseSchema, { leader: leaderKey() })) as never;
      },
      proclaim(request) {
        sent.proclaims.push(request);
        return create(ProclaimResponseSchema, { header: { revision: 9n } });
      },
      leader(request) {
        sent.leaders.push(request);
        return fake.leader?.() ?? answer("v", 5n);
      },
      observe(request, context) {
        sent.leaders.push(request);
        return (fake.observe ?? async function* () {})(context.signal);
      },
      resign(request) {
        sent.resigns.push(request);
        return create(ResignResponseSchema, { header: { revision: 10n } });
      },
    }),
  );
  return { elections: createElectionService(createClient(Election, transport)), sent };
}

// Resolves once `signal` aborts.
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });

describe("createElectionService", () => {
  it("campaigns with name, lease and value, and returns the leader key", async () => {
    const { elections, sent } = fakeElection();
    const leader = await elections.campaign("e", 42, "node-1");
    assert.deepEqual(sent.campaigns[0]?.name, text("e"));
    assert.equal(sent.campaigns[0]?.lease, 42n);
    assert.deepEqual(sent.campaigns[0]?.value, text("node-1"));
    assert.deepEqual(leader, leaderKey());
  });

  it("fails when etcd answers Campaign without a leader key", async () => {
    const { elections } = fakeElection({ campaign: () => create(CampaignResponseSchema) });
    const error = await failure(elections.campaign("e", 42, "v"));
    assert.match(error.message, /without a leader key/);
  });

  const badCampaigns: [string, () => [string, number | bigint, string], RegExp][] = [
    ["an empty name", () => ["", 1, "v"], /name must not be empty/],
    ["lease 0", () => ["e", 0, "v"], /lease must be >= 1/],
    ["a value that is not bytes", () => ["e", 1, undefined as unknown as string], /value must be/],
  ];
  for (const [what, args, message] of badCampaigns) {
    it(`refuses to campaign with ${what} before sending`, async () => {
      const { elections, sent } = fakeElection();
      const error = await failure(elections.campaign(...args()));
      assert.equal(error.reason, "invalid_argument");
      assert.match(error.message, message);
      assert.equal(sent.campaigns.length, 0);
    });
  }

  it("proclaims and resigns with the leader key as campaign returned it", async () => {
    const { elections, sent } = fakeElection();
    const leader = await elections.campaign("e", 42, "v1");
    assert.equal((await elections.proclaim(leader, "v2")).header?.revision, 9n);
    assert.deepEqual(sent.proclaims[0]?.leader, leaderKey());
    assert.deepEqual(sent.proclaims[0]?.value, text("v2"));
    assert.equal((await elections.resign(leader)).header?.revision, 10n);
    assert.deepEqual(sent.resigns[0]?.leader, leaderKey());
  });

  const badLeaders: [string, () => LeaderKey, RegExp][] = [
    ["no leader key", () => undefined as unknown as LeaderKey, /leader must be the LeaderKey/],
    ["an empty key", () => ({ ...leaderKey(), key: new Uint8Array() }), /leader\.key must not be empty/],
    ["an empty name", () => ({ ...leaderKey(), name: new Uint8Array() }), /leader\.name must not be empty/],
    ["lease 0", () => ({ ...leaderKey(), lease: 0n }), /leader\.lease must be >= 1/],
    ["revision 0", () => ({ ...leaderKey(), rev: 0n }), /leader\.rev must be >= 1/],
  ];
  for (const [what, leader, message] of badLeaders) {
    it(`refuses to proclaim or resign with ${what} before sending`, async () => {
      const { elections, sent } = fakeElection();
      assert.match((await failure(elections.proclaim(leader(), "v"))).message, message);
      assert.match((await failure(elections.resign(leader()))).message, message);
      assert.equal(sent.proclaims.length + sent.resigns.length, 0);
    });
  }

  it("reads the leader", async () => {
    const { elections, sent } = fakeElection();
    const res = await elections.leader("e");
    assert.deepEqual(sent.leaders[0]?.name, text("e"));
    assert.deepEqual(res?.kv?.value, text("v"));
  });

  it("reads an empty election as undefined: etcd's 'election: no leader'", async () => {
    const { elections } = fakeElection({
      leader: () => {
        throw new ConnectError("election: no leader", Code.Unknown);
      },
    });
    assert.equal(await elections.leader("e"), undefined);
  });

  it("reports other Leader failures, the same words with another code included", async () => {
    for (const error of [
      new ConnectError("election: no leader", Code.Internal),
      new ConnectError("etcdserver: request timed out", Code.Unavailable),
    ]) {
      const { elections } = fakeElection({
        leader: () => {
          throw error;
        },
      });
      const got = await failure(elections.leader("e"));
      assert.equal(got.code, error.code);
    }
  });

  it("observes: yields every answer of the stream in order", async () => {
    const { elections } = fakeElection({
      observe: async function* () {
        yield answer("a", 5n);
        yield answer("b", 6n);
      },
    });
    const seen: string[] = [];
    for await (const res of elections.observe("e")) seen.push(new TextDecoder().decode(res.kv?.value));
    assert.deepEqual(seen, ["a", "b"]);
  });

  it("observe: leaving the loop cancels the stream on the server", async () => {
    let serverSignal: AbortSignal | undefined;
    const { elections } = fakeElection({
      observe: async function* (signal) {
        serverSignal = signal;
        yield answer("a", 5n);
        await aborted(signal);
      },
    });
    for await (const res of elections.observe("e")) {
      assert.deepEqual(res.kv?.value, text("a"));
      break;
    }
    assert.ok(serverSignal !== undefined);
    await aborted(serverSignal);
  });

  it("observe: the caller's signal ends the iteration quietly", async () => {
    const stop = new AbortController();
    const { elections } = fakeElection({
      observe: async function* (signal) {
        yield answer("a", 5n);
        await aborted(signal);
      },
    });
    const seen: bigint[] = [];
    for await (const res of elections.observe("e", { signal: stop.signal })) {
      seen.push(res.header?.revision ?? 0n);
      stop.abort();
    }
    assert.deepEqual(seen, [5n]);
  });

  it("observe: a failure of the stream is an EtcdError", async () => {
    const { elections } = fakeElection({
      observe: async function* () {
        yield answer("a", 5n);
        throw new ConnectError("etcdserver: no leader", Code.Unavailable);
      },
    });
    const seen: bigint[] = [];
    const error = await failure(
      (async () => {
        for await (const res of elections.observe("e")) seen.push(res.header?.revision ?? 0n);
      })(),
    );
    assert.deepEqual(seen, [5n]);
    assert.equal(error.reason, "no_leader");
  });

  it("observe refuses an empty name at once, before any stream", () => {
    const { elections, sent } = fakeElection();
    assert.throws(
      () => elections.observe(""),
      (error: unknown) => EtcdError.is(error, "invalid_argument"),
    );
    assert.equal(sent.leaders.length, 0);
  });
});
