import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { grpcStatus } from "./status.js";

const headers = { ":status": "200", "content-type": "application/grpc" };

describe("grpcStatus", () => {
  it("is OK only for grpc-status 0", () => {
    assert.equal(grpcStatus({ "grpc-status": "0" }, headers), undefined);
  });

  it("reads every code from 1 to 16 with its message, percent-decoded", () => {
    for (let code = 1; code <= 16; code++) {
      const error = grpcStatus({ "grpc-status": String(code), "grpc-message": "a%20b%C3%A9" }, headers);
      assert.equal(error?.code, code);
      assert.equal(error?.rawMessage, "a bé");
    }
  });

  it("takes nothing else for a status: empty, spaces, hex, fractions, signs, padding, out of range", () => {
    for (const status of ["", " ", "0x0", "2.5", "-1", "+1", "00", "01", "17", "99", "1e1", "0 "]) {
      const error = grpcStatus({ "grpc-status": status }, headers);
      assert.equal(error?.code, Code.Internal, JSON.stringify(status));
      assert.match(error?.rawMessage ?? "", /invalid grpc-status/);
    }
  });

  it("fails a missing status with Internal", () => {
    assert.equal(grpcStatus(undefined, headers)?.code, Code.Internal);
    assert.equal(grpcStatus({}, headers)?.code, Code.Internal);
  });

  it("passes a bad percent escape through and escapes controls", () => {
    assert.equal(grpcStatus({ "grpc-status": "5", "grpc-message": "%zz%" }, headers)?.rawMessage, "%zz%");
    const error = grpcStatus({ "grpc-status": "5", "grpc-message": "%0D%0Aforged%1B[0m%zz" }, headers);
    assert.equal(error?.code, Code.NotFound);
    assert.equal(error?.rawMessage, "\\x0d\\x0aforged\\x1b[0m%zz");
  });

  it("cuts a long message", () => {
    const error = grpcStatus({ "grpc-status": "2", "grpc-message": "y".repeat(20_000) }, headers);
    assert.ok((error?.rawMessage.length ?? 0) < 1100);
  });

  it("refuses malformed grpc-status-details-bin, and details that contradict grpc-status", () => {
    // google.rpc.Status { code: 7, message: "no" }, encoded by hand: field 1 varint, field 2 bytes.
    const details = Buffer.from([0x08, 0x07, 0x12, 0x02, 0x6e, 0x6f]).toString("base64");
    const ok = grpcStatus({ "grpc-status": "7", "grpc-status-details-bin": details }, headers);
    assert.equal(ok?.code, Code.PermissionDenied);
    assert.equal(ok?.rawMessage, "no");
    for (const [status, bin] of [
      ["7", "!!!not base64!!!"],
      ["7", Buffer.from([0xff, 0xff, 0xff]).toString("base64")],
      ["3", details],
      ["0", details],
    ]) {
      const error = grpcStatus(
        { "grpc-status": status as string, "grpc-status-details-bin": bin as string },
        headers,
      );
      assert.equal(error?.code, Code.Internal, `${status} ${bin}`);
      assert.match(error?.rawMessage ?? "", /malformed grpc-status-details-bin/);
    }
  });

  it("keeps response headers and trailers as the error's metadata", () => {
    const error = grpcStatus({ "grpc-status": "14", "x-trailer": "t" }, { ...headers, "x-header": "h" });
    assert.equal(error?.metadata.get("x-header"), "h");
    assert.equal(error?.metadata.get("x-trailer"), "t");
  });
});
