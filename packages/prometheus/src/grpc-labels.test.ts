import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { grpcCodeName, grpcCodeOf, grpcLabels, grpcType } from "./grpc-labels.js";

describe("grpc labels", () => {
  it("spells every status as Go's codes.Code.String() does", () => {
    const go: [number, string][] = [
      [0, "OK"],
      [Code.Canceled, "Canceled"],
      [Code.Unknown, "Unknown"],
      [Code.InvalidArgument, "InvalidArgument"],
      [Code.DeadlineExceeded, "DeadlineExceeded"],
      [Code.NotFound, "NotFound"],
      [Code.AlreadyExists, "AlreadyExists"],
      [Code.PermissionDenied, "PermissionDenied"],
      [Code.ResourceExhausted, "ResourceExhausted"],
      [Code.FailedPrecondition, "FailedPrecondition"],
      [Code.Aborted, "Aborted"],
      [Code.OutOfRange, "OutOfRange"],
      [Code.Unimplemented, "Unimplemented"],
      [Code.Internal, "Internal"],
      [Code.Unavailable, "Unavailable"],
      [Code.DataLoss, "DataLoss"],
      [Code.Unauthenticated, "Unauthenticated"],
      [17, "Code(17)"],
    ];
    for (const [code, name] of go) assert.equal(grpcCodeName(code), name, `code ${code}`);
  });

  it("maps protobuf-es method kinds to go-grpc-prometheus's grpc_type", () => {
    assert.equal(grpcType("unary"), "unary");
    assert.equal(grpcType("client_streaming"), "client_stream");
    assert.equal(grpcType("server_streaming"), "server_stream");
    assert.equal(grpcType("bidi_streaming"), "bidi_stream");
  });

  it("labels a call by its schema: qualified service and method name", () => {
    assert.deepEqual(
      grpcLabels({
        service: { typeName: "etcdserverpb.KV" },
        method: { name: "Range", methodKind: "unary" },
      }),
      { grpc_type: "unary", grpc_service: "etcdserverpb.KV", grpc_method: "Range" },
    );
    assert.deepEqual(
      grpcLabels({
        service: { typeName: "etcdserverpb.Watch" },
        method: { name: "Watch", methodKind: "bidi_streaming" },
      }),
      { grpc_type: "bidi_stream", grpc_service: "etcdserverpb.Watch", grpc_method: "Watch" },
    );
    assert.deepEqual(grpcLabels({ service: { typeName: "" }, method: { name: "", methodKind: "unary" } }), {
      grpc_type: "unary",
      grpc_service: "unknown",
      grpc_method: "unknown",
    });
  });

  it("takes the code of a failure from the ConnectError, and Canceled for any caller abort", () => {
    assert.equal(grpcCodeOf(new ConnectError("gone", Code.Unavailable)), Code.Unavailable);
    assert.equal(grpcCodeOf(new DOMException("stop", "AbortError")), Code.Canceled);
    assert.equal(grpcCodeOf(new Error("boom")), Code.Unknown);
    // An error that carries a Connect code without being a ConnectError (EtcdError).
    assert.equal(
      grpcCodeOf(Object.assign(new Error("compacted"), { code: Code.OutOfRange })),
      Code.OutOfRange,
    );
    assert.equal(grpcCodeOf(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })), Code.Unknown);
    const aborted = new AbortController();
    aborted.abort(new Error("shutting down"));
    assert.equal(grpcCodeOf(new ConnectError("shutting down", Code.Unknown), aborted.signal), Code.Canceled);
    assert.equal(
      grpcCodeOf(new ConnectError("late", Code.DeadlineExceeded), aborted.signal),
      Code.DeadlineExceeded,
    );
  });
});
