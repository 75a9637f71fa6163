import type {
  WatchCreateRequest,
  WatchCreateRequest_FilterType,
  WatchRequest,
} from "@etcd-connect/api/etcdserverpb";

// The watch stream's requests, built as literals rather than with create(): protobuf-es walks
// the schema on every create(), several µs each, and 10,000 watchers send 10,000 creates.
// watch-requests.test.ts holds each equal to what create() builds.

/** What a watch create carries; the stream sets `watchId` when it sends it. */
export interface WatchCreateFields {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  startRevision: bigint;
  prevKv: boolean;
  progressNotify: boolean;
  fragment: boolean;
  filters: WatchCreateRequest_FilterType[];
}

/** A WatchCreateRequest; its `watchId` is 0 until sent. */
export function watchCreateRequest(fields: WatchCreateFields): WatchCreateRequest {
  return {
    $typeName: "etcdserverpb.WatchCreateRequest",
    key: fields.key,
    rangeEnd: fields.rangeEnd,
    startRevision: fields.startRevision,
    progressNotify: fields.progressNotify,
    filters: fields.filters,
    prevKv: fields.prevKv,
    watchId: 0n,
    fragment: fields.fragment,
  };
}

/** The stream message that sends a create. */
export function createMessage(create: WatchCreateRequest): WatchRequest {
  return { $typeName: "etcdserverpb.WatchRequest", requestUnion: { case: "createRequest", value: create } };
}

/** The stream message that cancels the watcher with server id `watchId`. */
export function cancelMessage(watchId: bigint): WatchRequest {
  return {
    $typeName: "etcdserverpb.WatchRequest",
    requestUnion: { case: "cancelRequest", value: { $typeName: "etcdserverpb.WatchCancelRequest", watchId } },
  };
}

/** The stream message that asks for a progress notification. */
export function progressMessage(): WatchRequest {
  return {
    $typeName: "etcdserverpb.WatchRequest",
    requestUnion: { case: "progressRequest", value: { $typeName: "etcdserverpb.WatchProgressRequest" } },
  };
}
