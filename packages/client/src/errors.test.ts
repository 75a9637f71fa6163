import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { KV, PutRequestSchema, RangeResponseSchema } from "@etcd-connect/api/etcdserverpb";
import { NotGrpcServerError } from "@etcd-connect/transport";
import {
  ClientClosedError,
  EtcdError,
  type EtcdErrorReason,
  etcdMessageReasons,
  invalidArgument,
  reasonForEtcdMessage,
  setCallOutcome,
  toEtcdError,
} from "./errors.js";

// Every member of the EtcdErrorReason union, held exhaustive by the compiler: a reason added to
// or removed from the union without this list fails the type check.
const allReasons = {
  empty_key: true,
  key_not_found: true,
  value_provided: true,
  lease_provided: true,
  ttl_zero: true,
  too_many_ops: true,
  duplicate_key: true,
  compacted: true,
  future_revision: true,
  no_space: true,
  lease_not_found: true,
  lease_exists: true,
  lease_ttl_too_large: true,
  lease_expired: true,
  member_exists: true,
  peer_url_exists: true,
  member_not_enough_started: true,
  member_bad_urls: true,
  member_not_found: true,
  member_not_learner: true,
  learner_not_ready: true,
  too_many_learners: true,
  request_too_large: true,
  too_many_requests: true,
  root_user_not_exist: true,
  root_role_not_exist: true,
  user_already_exists: true,
  user_empty: true,
  user_not_found: true,
  role_already_exists: true,
  role_not_found: true,
  role_empty: true,
  auth_failed: true,
  permission_denied: true,
  role_not_granted: true,
  permission_not_granted: true,
  auth_not_enabled: true,
  invalid_auth_token: true,
  invalid_auth_mgmt: true,
  auth_old_revision: true,
  no_leader: true,
  not_leader: true,
  leader_changed: true,
  not_capable: true,
  stopped: true,
  timeout: true,
  timeout_due_to_leader_fail: true,
  timeout_due_to_connection_lost: true,
  timeout_wait_applied_index: true,
  unhealthy_cluster: true,
  corrupt: true,
  not_supported_for_learner: true,
  bad_leader_transferee: true,
  cluster_version_unavailable: true,
  wrong_downgrade_version_format: true,
  invalid_downgrade_target_version: true,
  downgrade_in_progress: true,
  no_inflight_downgrade: true,
  election_not_leader: true,
  election_no_leader: true,
  unimplemented: true,
  unavailable: true,
  deadline_exceeded: true,
  canceled: true,
  message_too_large: true,
  no_endpoints: true,
  invalid_argument: true,
  not_etcd: true,
  closed: true,
  unknown: true,
} satisfies Record<EtcdErrorReason, true>;

function isReason(value: string): boolean {
  return Object.hasOwn(allReasons, value);
}

describe("etcdMessageReasons", () => {
  it("holds etcd's whole rpctypes catalogue", () => {
    assert.ok(etcdMessageReasons.size >= 57, `only ${etcdMessageReasons.size} entries`);
  });

  // One exception: etcd 3.4 has a second, unprefixed wording of auth_failed.
  const unprefixed = "auth: authentication failed, password was given for no password user";

  it("gives each message its own reason", () => {
    const reasons = [...etcdMessageReasons].filter(([m]) => m !== unprefixed).map(([, r]) => r);
    assert.equal(new Set(reasons).size, reasons.length);
    assert.equal(etcdMessageReasons.get(unprefixed), "auth_failed");
  });

  it("uses only members of the EtcdErrorReason union", () => {
    for (const [message, reason] of etcdMessageReasons) {
      assert.ok(isReason(reason), `${JSON.stringify(message)} maps to unknown reason ${reason}`);
    }
  });

  it("keys every entry by an exact etcdserver (or election service) message", () => {
    for (const message of etcdMessageReasons.keys()) {
      if (message === unprefixed) continue;
      assert.match(message, /^(etcdserver|election): \S/);
      assert.equal(message, message.trim());
    }
  });

  // Every code, so a reason never depends on the code etcd happens to pair with the message.
  const codes = [Code.Unavailable, Code.InvalidArgument, Code.FailedPrecondition, Code.Unknown];
  for (const [message, reason] of etcdMessageReasons) {
    it(`maps ${JSON.stringify(message)} to ${reason}`, () => {
      for (const code of codes) {
        const error = toEtcdError(new ConnectError(message, code));
        assert.equal(error.reason, reason);
        assert.equal(error.code, code);
        assert.equal(error.etcdMessage, message);
        // The etcd message leads; a few reasons add a hint on what to do.
        assert.ok(error.message.startsWith(message), error.message);
        assert.equal(reasonForEtcdMessage(message), reason);
      }
    });
  }

  it("does not match a message that only resembles etcd's", () => {
    for (const message of ["etcdserver: no leader!", "Etcdserver: no leader", "etcdserver:  no leader"]) {
      const error = toEtcdError(new ConnectError(message, Code.FailedPrecondition));
      assert.equal(error.reason, "unknown");
      assert.equal(error.etcdMessage, undefined);
    }
  });
});

describe("toEtcdError without an etcd message", () => {
  const table: Array<[Code, EtcdErrorReason]> = [
    [Code.Unavailable, "unavailable"],
    [Code.DeadlineExceeded, "deadline_exceeded"],
    [Code.Canceled, "canceled"],
    [Code.Unimplemented, "unimplemented"],
    [Code.InvalidArgument, "invalid_argument"],
    [Code.PermissionDenied, "permission_denied"],
    [Code.Unauthenticated, "invalid_auth_token"],
    [Code.Internal, "unknown"],
    [Code.DataLoss, "unknown"],
  ];
  for (const [code, reason] of table) {
    it(`maps Code.${Code[code]} to ${reason}`, () => {
      const error = toEtcdError(new ConnectError("something went wrong", code));
      assert.equal(error.reason, reason);
      assert.equal(error.code, code);
      assert.equal(error.etcdMessage, undefined);
      assert.equal(error.indeterminate, false);
    });
  }

  it("maps a plain Error to unknown and keeps it as the cause", () => {
    const cause = new Error("boom");
    const error = toEtcdError(cause);
    assert.equal(error.reason, "unknown");
    assert.equal(error.code, Code.Unknown);
    assert.equal(error.cause, cause);
  });

  // Classified by type (what the pool throws), never by matching our own message text.
  it("maps the closed-client message to closed", () => {
    assert.equal(toEtcdError(new ClientClosedError()).reason, "closed");
  });

  it("recognises a server that is not etcd", () => {
    const error = toEtcdError(
      new NotGrpcServerError("http://h:1 answered but is not an etcd gRPC server (HTTP/2 failed)"),
    );
    assert.equal(error.reason, "not_etcd");
  });

  it("returns an EtcdError unchanged", () => {
    const original = invalidArgument("bad");
    assert.equal(toEtcdError(original), original);
    assert.equal(original.reason, "invalid_argument");
    assert.equal(original.code, Code.InvalidArgument);
  });
});

describe("toEtcdError for Connect's message size limits", () => {
  function kvTransport(limits: { writeMaxBytes?: number; readMaxBytes?: number }) {
    return createRouterTransport(
      ({ service }) => {
        service(KV, {
          range: () => create(RangeResponseSchema, { count: 123456789n, more: true }),
          put: () => ({}),
        });
      },
      { transport: limits },
    );
  }

  it("names maxCallSendMsgSize for a request above writeMaxBytes", async () => {
    const kv = createClient(KV, kvTransport({ writeMaxBytes: 4 }));
    const request = create(PutRequestSchema, { key: new Uint8Array(16), value: new Uint8Array(16) });
    const error = await kv.put(request).then(
      () => assert.fail("expected the oversize request to fail"),
      (e: unknown) => toEtcdError(e),
    );
    assert.equal(error.code, Code.ResourceExhausted);
    assert.equal(error.reason, "message_too_large");
    assert.match(error.message, /maxCallSendMsgSize/);
    assert.doesNotMatch(error.message, /writeMaxBytes/);
  });

  it("names maxCallRecvMsgSize for a response above readMaxBytes", async () => {
    const kv = createClient(KV, kvTransport({ readMaxBytes: 2 }));
    const error = await kv.range({ key: new Uint8Array([1]) }).then(
      () => assert.fail("expected the oversize response to fail"),
      (e: unknown) => toEtcdError(e),
    );
    assert.equal(error.code, Code.ResourceExhausted);
    assert.equal(error.reason, "message_too_large");
    assert.match(error.message, /maxCallRecvMsgSize/);
    assert.doesNotMatch(error.message, /readMaxBytes/);
  });

  it("maps each of Connect's exact limit messages", () => {
    const messages = [
      ["message size 10 is larger than configured writeMaxBytes 4", "maxCallSendMsgSize"],
      ["message size is larger than configured readMaxBytes 4", "maxCallRecvMsgSize"],
      ["message size 10 is larger than configured readMaxBytes 4", "maxCallRecvMsgSize"],
    ] as const;
    for (const [message, option] of messages) {
      const error = toEtcdError(new ConnectError(message, Code.ResourceExhausted));
      assert.equal(error.reason, "message_too_large");
      assert.ok(error.message.includes(option), error.message);
    }
  });

  it("leaves other ResourceExhausted errors alone", () => {
    const error = toEtcdError(new ConnectError("quota exceeded", Code.ResourceExhausted));
    assert.equal(error.reason, "unknown");
    assert.equal(error.message, "quota exceeded");
  });
});

describe("EtcdError instanceof", () => {
  // A second copy of the package defines its own class but the same global brand.
  class DuplicateCopyEtcdError extends Error {
    readonly reason: EtcdErrorReason = "compacted";
  }
  Object.defineProperty(DuplicateCopyEtcdError.prototype, Symbol.for("@etcd-connect/client/EtcdError"), {
    value: true,
  });

  it("holds for an EtcdError of this copy", () => {
    assert.ok(invalidArgument("x") instanceof EtcdError);
    assert.ok(toEtcdError(new ConnectError("x", Code.Unavailable)) instanceof EtcdError);
  });

  it("holds for an error from a duplicate package copy", () => {
    const foreign = new DuplicateCopyEtcdError("from another copy");
    assert.ok(foreign instanceof EtcdError);
    assert.ok(EtcdError.is(foreign));
    assert.ok(EtcdError.is(foreign, "compacted"));
    // toEtcdError passes it through as it is, as it does for its own errors.
    assert.equal(toEtcdError(foreign), foreign as unknown);
  });

  it("is false for plain Errors, ConnectErrors and non-objects", () => {
    for (const value of [
      new Error("x"),
      new ConnectError("etcdserver: no leader", Code.Unavailable),
      { reason: "compacted" },
      "EtcdError",
      null,
      undefined,
      42,
    ]) {
      assert.equal(value instanceof EtcdError, false, String(value));
      assert.equal(EtcdError.is(value), false, String(value));
    }
  });
});

describe("EtcdError.is", () => {
  const error = toEtcdError(
    new ConnectError("etcdserver: mvcc: required revision has been compacted", Code.OutOfRange),
  );

  it("matches any reason when none is given", () => {
    assert.ok(EtcdError.is(error));
  });

  it("matches only the given reason", () => {
    assert.ok(EtcdError.is(error, "compacted"));
    assert.equal(EtcdError.is(error, "future_revision"), false);
  });
});

describe("EtcdError message and details", () => {
  it("names the endpoint and says a write may have been applied", () => {
    const raw = setCallOutcome(new ConnectError("etcdserver: request timed out", Code.Unavailable), {
      endpoint: "http://10.0.0.1:2379",
      indeterminate: true,
    });
    const error = toEtcdError(raw);
    assert.equal(error.reason, "timeout");
    assert.equal(error.endpoint, "http://10.0.0.1:2379");
    assert.equal(error.indeterminate, true);
    assert.ok(error.message.startsWith("etcdserver: request timed out"), error.message);
    assert.match(error.message, /\(endpoint http:\/\/10\.0\.0\.1:2379\)/);
    assert.match(error.message, /may have been applied/);
    assert.equal(error.cause, raw);
  });

  it("says nothing of an applied write when the outcome is known", () => {
    const raw = setCallOutcome(new ConnectError("connection reset", Code.Unavailable), {
      endpoint: "http://10.0.0.2:2379",
      indeterminate: false,
    });
    const error = toEtcdError(raw);
    assert.equal(error.indeterminate, false);
    assert.match(error.message, /\(endpoint http:\/\/10\.0\.0\.2:2379\)/);
    assert.doesNotMatch(error.message, /may have been applied/);
  });

  it("lets explicit details override the call outcome", () => {
    const raw = setCallOutcome(new ConnectError("down", Code.Unavailable), {
      endpoint: "http://a:1",
      indeterminate: true,
    });
    const error = toEtcdError(raw, { endpoint: "http://b:2", indeterminate: false });
    assert.equal(error.endpoint, "http://b:2");
    assert.equal(error.indeterminate, false);
    assert.doesNotMatch(error.message, /http:\/\/a:1/);
  });

  it("carries name, code and reason as given to the constructor", () => {
    const error = new EtcdError("m", Code.OutOfRange, "compacted", { compactRevision: 42n });
    assert.equal(error.name, "EtcdError");
    assert.equal(error.message, "m");
    assert.equal(error.code, Code.OutOfRange);
    assert.equal(error.compactRevision, 42n);
    assert.equal(error.indeterminate, false);
    assert.ok(error instanceof Error);
  });
});
