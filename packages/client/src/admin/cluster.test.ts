import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, type Client as ConnectClient, ConnectError } from "@connectrpc/connect";
import {
  type Cluster as ClusterService,
  type MemberAddRequest,
  type MemberListRequest,
  MemberListResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import { EtcdError } from "../errors.js";
import { checkPeerUrls, createCluster, toMemberId } from "./cluster.js";

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

// Records every request; answers with `answer`.
function fakeCluster(answer: () => unknown = () => create(MemberListResponseSchema)) {
  const sent: { method: string; request: unknown }[] = [];
  const handler = (method: string) => async (request: unknown) => {
    sent.push({ method, request });
    return answer();
  };
  const rpc = {
    memberList: handler("memberList"),
    memberAdd: handler("memberAdd"),
    memberRemove: handler("memberRemove"),
    memberUpdate: handler("memberUpdate"),
    memberPromote: handler("memberPromote"),
  } as unknown as ConnectClient<typeof ClusterService>;
  return { cluster: createCluster(rpc), sent };
}

describe("checkPeerUrls", () => {
  const valid = [
    "http://127.0.0.1:2380",
    "https://10.0.0.4:12380",
    "http://etcd-1.example.com:2380",
    "http://[::1]:2380",
    "http://localhost:80",
  ];
  for (const url of valid) {
    it(`accepts ${url}`, () => assert.deepEqual(checkPeerUrls([url]), [url]));
  }
  const invalid = [
    "",
    "127.0.0.1:2380",
    "http://127.0.0.1",
    "http://127.0.0.1:2380/",
    "http://127.0.0.1:2380/peers",
    "http://127.0.0.1:2380?x=1",
    "ftp://127.0.0.1:2380",
    "http://127.0.0.1:0",
    "http://127.0.0.1:70000",
    "http://user@127.0.0.1:2380",
    " http://127.0.0.1:2380",
  ];
  for (const url of invalid) {
    it(`refuses ${JSON.stringify(url)}`, () =>
      assert.throws(
        () => checkPeerUrls(["http://127.0.0.1:2380", url]),
        (error: unknown) =>
          EtcdError.is(error, "invalid_argument") && error.message.includes(JSON.stringify(url)),
      ));
  }
  it("refuses an empty list and a bare string", () => {
    assert.throws(() => checkPeerUrls([]), /non-empty array/);
    assert.throws(() => checkPeerUrls("http://127.0.0.1:2380" as unknown as string[]), /non-empty array/);
  });
});

describe("toMemberId", () => {
  it("takes uint64 bigints, including those above 2^63", () => {
    assert.equal(toMemberId("id", 0xfedc_ba98_7654_3210n), 0xfedc_ba98_7654_3210n);
    assert.equal(toMemberId("id", 0xffff_ffff_ffff_ffffn), 0xffff_ffff_ffff_ffffn);
    assert.equal(toMemberId("id", 42), 42n);
  });
  for (const bad of [0, 0n, -1n, 2n ** 64n, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
    it(`refuses ${String(bad)}`, () => assert.throws(() => toMemberId("id", bad), /member id/));
  }
});

describe("Cluster facade (fake RPCs)", () => {
  it("memberList asks for a linearizable list unless told otherwise", async () => {
    const { cluster, sent } = fakeCluster();
    await cluster.memberList();
    await cluster.memberList({ linearizable: false });
    assert.deepEqual(
      sent.map((s) => (s.request as MemberListRequest).linearizable),
      [true, false],
    );
  });

  it("memberAdd sends the URLs as given and the learner flag", async () => {
    const { cluster, sent } = fakeCluster();
    await cluster.memberAdd(["http://127.0.0.1:2380"], { learner: true });
    const request = sent[0]?.request as MemberAddRequest;
    assert.deepEqual(request.peerURLs, ["http://127.0.0.1:2380"]);
    assert.equal(request.isLearner, true);
  });

  it("bad input is refused before sending, as a rejected EtcdError", async () => {
    const { cluster, sent } = fakeCluster();
    const errors = await Promise.all([
      failure(cluster.memberAdd(["127.0.0.1:2380"])),
      failure(cluster.memberUpdate(1n, ["http://h:2380/path"])),
      failure(cluster.memberRemove(0)),
      failure(cluster.memberPromote(-5n)),
    ]);
    assert.deepEqual(
      errors.map((e) => e.reason),
      ["invalid_argument", "invalid_argument", "invalid_argument", "invalid_argument"],
    );
    assert.equal(sent.length, 0);
  });

  it("etcd's errors come back with their reason", async () => {
    const { cluster } = fakeCluster(() => {
      throw new ConnectError("etcdserver: member not found", Code.NotFound);
    });
    const error = await failure(cluster.memberRemove(0xdead_beefn));
    assert.equal(error.reason, "member_not_found");
    assert.equal(error.etcdMessage, "etcdserver: member not found");
  });
});
