// gRPC on the wire, as the test peer writes it: length-prefixed messages (the 5-byte envelope),
// the response header and trailer fields of a well-behaved server, and etcd's messages encoded
// with protobuf-es's reflective toBinary (not the client's own codec).

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  RangeResponseSchema,
  SnapshotResponseSchema,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import type { HeaderFields } from "./hpack-writer.js";

export const paths = {
  range: "/etcdserverpb.KV/Range",
  watch: "/etcdserverpb.Watch/Watch",
  snapshot: "/etcdserverpb.Maintenance/Snapshot",
} as const;

export interface EnvelopeOptions {
  /** Sets the compressed flag (bit 0 of the first byte). */
  compressed?: boolean;
  /** Declares this length instead of the payload's. */
  declaredLength?: number;
}

/** One gRPC length-prefixed message: flags byte, uint32 BE length, payload. */
export function envelope(payload: Uint8Array, options: EnvelopeOptions = {}): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = options.compressed ? 1 : 0;
  out.writeUInt32BE(options.declaredLength ?? payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** The payloads of the whole messages in `body` (the client's request bytes). */
export function envelopes(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (body.length - off >= 5) {
    const length = body.readUInt32BE(off + 1);
    if (body.length - off - 5 < length) break;
    out.push(body.subarray(off + 5, off + 5 + length));
    off += 5 + length;
  }
  return out;
}

/** A RangeResponse at revision 1, no kvs: what an empty etcd answers to get("k"). */
export function rangeResponse(): Uint8Array {
  return toBinary(
    RangeResponseSchema,
    create(RangeResponseSchema, { header: { clusterId: 1n, memberId: 1n, revision: 1n, raftTerm: 1n } }),
  );
}

export function snapshotResponse(blob: Uint8Array, remainingBytes = 0n): Uint8Array {
  return toBinary(SnapshotResponseSchema, create(SnapshotResponseSchema, { blob, remainingBytes }));
}

export function watchResponse(init: Partial<Omit<WatchResponse, "$typeName">>): Uint8Array {
  return toBinary(
    WatchResponseSchema,
    create(WatchResponseSchema, { header: { revision: 1n }, ...init } as never),
  );
}

export function decodeWatchRequest(payload: Uint8Array): WatchRequest {
  return fromBinary(WatchRequestSchema, payload);
}

/** Response headers of a gRPC server (HTTP 200, gRPC content type). */
export const okHeaders: HeaderFields = [
  [":status", "200"],
  ["content-type", "application/grpc"],
];

/** Trailers of a successful call. */
export const okTrailers: HeaderFields = [["grpc-status", "0"]];

/** Trailers of a failed call; `message` is sent as given (callers percent-encode or not). */
export function errorTrailers(status: string, message?: string): HeaderFields {
  return message === undefined
    ? [["grpc-status", status]]
    : [
        ["grpc-status", status],
        ["grpc-message", message],
      ];
}
