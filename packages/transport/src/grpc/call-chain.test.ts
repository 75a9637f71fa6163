import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { statusAfterDeadline } from "./call-chain.js";

describe("statusAfterDeadline", () => {
  const unknown = new ConnectError("context deadline exceeded", Code.Unknown, { "x-member": "a" });

  it("reads an error status that came after the call's deadline as DeadlineExceeded, keeping its metadata and cause", () => {
    const error = statusAfterDeadline(unknown, Date.now() - 1);
    assert.equal(error.code, Code.DeadlineExceeded);
    assert.equal(error.metadata.get("x-member"), "a");
    assert.equal(error.cause, unknown);
  });

  it("keeps a status that came before the deadline, or for a call without one", () => {
    assert.equal(statusAfterDeadline(unknown, Date.now() + 60_000), unknown);
    assert.equal(statusAfterDeadline(unknown, undefined), unknown);
  });

  it("keeps the server's own DeadlineExceeded as it is", () => {
    const late = new ConnectError("deadline", Code.DeadlineExceeded);
    assert.equal(statusAfterDeadline(late, Date.now() - 1), late);
  });
});
