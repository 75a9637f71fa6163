import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  WatchCreateRequest_FilterType,
  WatchCreateRequestSchema,
  WatchRequestSchema,
} from "@etcd-connect/api/etcdserverpb";
import { cancelMessage, createMessage, progressMessage, watchCreateRequest } from "./watch-requests.js";

describe("watch request literals", () => {
  const fields = {
    key: new Uint8Array([107]),
    rangeEnd: new Uint8Array([108]),
    startRevision: 7n,
    prevKv: true,
    progressNotify: true,
    fragment: true,
    filters: [WatchCreateRequest_FilterType.NOPUT],
  };

  it("builds a create equal to create(WatchCreateRequestSchema), field for field", () => {
    const built = watchCreateRequest(fields);
    assert.deepEqual(built, create(WatchCreateRequestSchema, fields));
    assert.deepEqual(Object.keys(built).sort(), Object.keys(create(WatchCreateRequestSchema)).sort());
  });

  it("builds create, cancel and progress messages equal to create(WatchRequestSchema)", () => {
    const createRequest = watchCreateRequest(fields);
    assert.deepEqual(
      createMessage(createRequest),
      create(WatchRequestSchema, { requestUnion: { case: "createRequest", value: createRequest } }),
    );
    assert.deepEqual(
      cancelMessage(3n),
      create(WatchRequestSchema, { requestUnion: { case: "cancelRequest", value: { watchId: 3n } } }),
    );
    assert.deepEqual(
      progressMessage(),
      create(WatchRequestSchema, { requestUnion: { case: "progressRequest", value: {} } }),
    );
  });
});
