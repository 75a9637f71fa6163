import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { LeaseKeepAliveResponseSchema, ResponseHeaderSchema } from "@etcd-connect/api/etcdserverpb";
import { messageCodec } from "@etcd-connect/transport";
import { keepAliveAnswer, sameHeader } from "./keep-alive-answer.js";

const header = create(ResponseHeaderSchema, {
  clusterId: 0xcdef0123456789n,
  memberId: 0x8e9e05c52164694dn,
  revision: 42n,
  raftTerm: 3n,
});

// What a keeper reading the answer as it arrives gets: the decoded message.
function decoded(init: { header?: typeof header; ID: bigint; TTL: bigint }) {
  const bytes = toBinary(LeaseKeepAliveResponseSchema, create(LeaseKeepAliveResponseSchema, init));
  const ours = messageCodec(LeaseKeepAliveResponseSchema).decode(bytes);
  assert.deepEqual(ours, fromBinary(LeaseKeepAliveResponseSchema, bytes));
  return ours;
}

describe("keepAliveAnswer", () => {
  it("equals the decoded answer, field for field, with and without a header", () => {
    assert.deepEqual(
      keepAliveAnswer(0x694d8e9e05c52164n, header, 10n),
      decoded({ header, ID: 0x694d8e9e05c52164n, TTL: 10n }),
    );
    assert.deepEqual(keepAliveAnswer(7n, undefined, 3n), decoded({ ID: 7n, TTL: 3n }));
  });

  it("gives each answer a header of its own: a reader changing it changes no other lease's", () => {
    const a = keepAliveAnswer(1n, header, 10n);
    const b = keepAliveAnswer(2n, header, 10n);
    assert.notEqual(a.header, header);
    assert.notEqual(a.header, b.header);
  });
});

describe("sameHeader", () => {
  it("is true only when every field is equal and neither has unknown fields", () => {
    assert.equal(sameHeader(header, create(ResponseHeaderSchema, { ...header })), true);
    assert.equal(sameHeader(header, { ...header, revision: 43n }), false);
    assert.equal(sameHeader(header, { ...header, raftTerm: 4n }), false);
    assert.equal(sameHeader(header, { ...header, memberId: 1n }), false);
    assert.equal(sameHeader(header, { ...header, clusterId: 1n }), false);
    const unknown = { ...header, $unknown: [{ no: 9, wireType: 0, data: new Uint8Array([1]) }] };
    assert.equal(sameHeader(header, unknown), false);
    assert.equal(sameHeader(unknown, header), false);
  });
});
