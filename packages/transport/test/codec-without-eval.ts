// Run by message-codec.test.ts with --disallow-code-generation-from-strings: the codec's zero
// messages without generated code must decode exactly as protobuf-es does. Prints "ok" or throws.
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  LeaseKeepAliveResponseSchema,
  RangeResponseSchema,
  RequestOpSchema,
  ResponseHeaderSchema,
  TxnResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import { KeyValueSchema } from "@etcd-connect/api/mvccpb";
import { messageCodec } from "../src/codec/message-codec.js";

assert.throws(() => new Function("return 1"), EvalError, "code generation is not disallowed in this process");

const header = create(ResponseHeaderSchema, { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n });
const kvs = [
  create(KeyValueSchema, { key: new Uint8Array([1, 2]), value: new Uint8Array([3]), version: 1n }),
];
const cases = [
  [LeaseKeepAliveResponseSchema, create(LeaseKeepAliveResponseSchema, { header, ID: 2n ** 62n, TTL: 10n })],
  [RangeResponseSchema, create(RangeResponseSchema, { header, kvs, count: 1n })],
  [RangeResponseSchema, create(RangeResponseSchema)],
  // A list of messages holding a oneof: the zero message's list and oneof object are fresh each time.
  [
    TxnResponseSchema,
    create(TxnResponseSchema, {
      header,
      succeeded: true,
      responses: [{ response: { case: "responseRange", value: { header, kvs, count: 1n } } }],
    }),
  ],
  [RequestOpSchema, create(RequestOpSchema)],
] as const;
for (const [schema, message] of cases) {
  const bytes = toBinary(schema as never, message as never);
  const codec = messageCodec(schema as never);
  const first = codec.decode(bytes) as Record<string, unknown>;
  assert.deepEqual(first, fromBinary(schema as never, bytes));
  assert.deepEqual(codec.decode(bytes), first);
}
console.log("ok");
