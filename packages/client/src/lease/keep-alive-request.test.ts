import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { LeaseKeepAliveRequestSchema } from "@etcd-connect/api/etcdserverpb";
import { keepAliveRequest } from "./keep-alive-request.js";

describe("keepAliveRequest", () => {
  it("equals create(LeaseKeepAliveRequestSchema), field for field", () => {
    assert.deepEqual(keepAliveRequest(0x1234n), create(LeaseKeepAliveRequestSchema, { ID: 0x1234n }));
  });
});
