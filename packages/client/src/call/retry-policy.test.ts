import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type RequestOp, RequestOpSchema, TxnRequestSchema } from "@etcd-connect/api/etcdserverpb";
import { type EtcdError, toEtcdError } from "../errors.js";
import { isIndeterminate, isRepeatable, isRetryable } from "./retry-policy.js";

describe("isRepeatable", () => {
  const repeatable: Array<[string, string]> = [
    ["etcdserverpb.KV", "Range"],
    ["etcdserverpb.Lease", "LeaseGrant"],
    ["etcdserverpb.Lease", "LeaseRevoke"],
    ["etcdserverpb.Lease", "LeaseTimeToLive"],
    ["etcdserverpb.Lease", "LeaseLeases"],
    ["etcdserverpb.Cluster", "MemberList"],
    ["etcdserverpb.Maintenance", "Alarm"],
    ["etcdserverpb.Maintenance", "Status"],
    ["etcdserverpb.Maintenance", "Hash"],
    ["etcdserverpb.Maintenance", "HashKV"],
    ["etcdserverpb.Maintenance", "MoveLeader"],
    ["etcdserverpb.Auth", "AuthStatus"],
    ["etcdserverpb.Auth", "UserGet"],
    ["etcdserverpb.Auth", "UserList"],
    ["etcdserverpb.Auth", "RoleGet"],
    ["etcdserverpb.Auth", "RoleList"],
  ];
  for (const [service, method] of repeatable) {
    it(`${service}/${method} is repeatable`, () => {
      assert.equal(isRepeatable(service, method), true);
    });
  }

  const writes: Array<[string, string]> = [
    ["etcdserverpb.KV", "Put"],
    ["etcdserverpb.KV", "DeleteRange"],
    ["etcdserverpb.KV", "Txn"],
    ["etcdserverpb.KV", "Compact"],
    ["etcdserverpb.Cluster", "MemberAdd"],
    ["etcdserverpb.Cluster", "MemberRemove"],
    ["etcdserverpb.Cluster", "MemberUpdate"],
    ["etcdserverpb.Cluster", "MemberPromote"],
    ["etcdserverpb.Maintenance", "Defragment"],
    ["etcdserverpb.Maintenance", "Downgrade"],
    ["etcdserverpb.Auth", "AuthEnable"],
    ["etcdserverpb.Auth", "AuthDisable"],
    ["etcdserverpb.Auth", "UserAdd"],
    ["etcdserverpb.Auth", "UserDelete"],
    ["etcdserverpb.Auth", "UserChangePassword"],
    ["etcdserverpb.Auth", "UserGrantRole"],
    ["etcdserverpb.Auth", "RoleAdd"],
    ["etcdserverpb.Auth", "RoleGrantPermission"],
    // Streams are resumed by their facades, never repeated by the interceptor.
    ["etcdserverpb.Watch", "Watch"],
    ["etcdserverpb.Lease", "LeaseKeepAlive"],
    // Names must match exactly.
    ["etcdserverpb.KV", "range"],
    ["KV", "Range"],
    ["etcdserverpb.Other", "Range"],
  ];
  for (const [service, method] of writes) {
    it(`${service}/${method} is not repeatable`, () => {
      assert.equal(isRepeatable(service, method), false);
    });
  }
});

const etcd = (message: string, code: Code): EtcdError => toEtcdError(new ConnectError(message, code));
const transport = (code: Code, message = "connection reset"): EtcdError =>
  toEtcdError(new ConnectError(message, code));

interface Case {
  name: string;
  error: EtcdError;
  repeatable: boolean;
  neverSent: boolean;
  retry: boolean;
  indeterminate: boolean;
}

const cases: Case[] = [
  // Repeatable calls: retried on Unavailable only; never indeterminate.
  {
    name: "read + transport Unavailable",
    error: transport(Code.Unavailable),
    repeatable: true,
    neverSent: false,
    retry: true,
    indeterminate: false,
  },
  {
    name: "read + etcd no leader",
    error: etcd("etcdserver: no leader", Code.Unavailable),
    repeatable: true,
    neverSent: false,
    retry: true,
    indeterminate: false,
  },
  {
    name: "read + etcd request timed out",
    error: etcd("etcdserver: request timed out", Code.Unavailable),
    repeatable: true,
    neverSent: false,
    retry: true,
    indeterminate: false,
  },
  {
    name: "read + compacted",
    error: etcd("etcdserver: mvcc: required revision has been compacted", Code.OutOfRange),
    repeatable: true,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "read + DeadlineExceeded",
    error: transport(Code.DeadlineExceeded),
    repeatable: true,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "read + InvalidArgument",
    error: transport(Code.InvalidArgument, "bad"),
    repeatable: true,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "read + permission denied",
    error: etcd("etcdserver: permission denied", Code.PermissionDenied),
    repeatable: true,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "read never sent",
    error: transport(Code.Unavailable),
    repeatable: true,
    neverSent: true,
    retry: true,
    indeterminate: false,
  },
  // Writes refused before anything was proposed: safe to retry, nothing applied.
  {
    name: "write + etcd no leader",
    error: etcd("etcdserver: no leader", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: true,
    indeterminate: false,
  },
  {
    name: "write + etcd not capable",
    error: etcd("etcdserver: not capable", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: true,
    indeterminate: false,
  },
  {
    name: "write + etcd server stopped",
    error: etcd("etcdserver: server stopped", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: true,
    indeterminate: false,
  },
  // Writes etcd may have applied.
  {
    name: "write + etcd request timed out",
    error: etcd("etcdserver: request timed out", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + etcd timed out (leader failure)",
    error: etcd("etcdserver: request timed out, possibly due to previous leader failure", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + etcd timed out (connection lost)",
    error: etcd("etcdserver: request timed out, possibly due to connection lost", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + etcd leader changed",
    error: etcd("etcdserver: leader changed", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + transport Unavailable after send",
    error: transport(Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + DeadlineExceeded after send",
    error: transport(Code.DeadlineExceeded),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + Canceled after send",
    error: transport(Code.Canceled),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + Internal after send",
    error: transport(Code.Internal),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  {
    name: "write + Unknown after send",
    error: transport(Code.Unknown),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: true,
  },
  // Writes etcd refused with a definite answer: not applied, not retried.
  {
    name: "write + compacted",
    error: etcd("etcdserver: mvcc: required revision has been compacted", Code.OutOfRange),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "write + transport InvalidArgument",
    error: transport(Code.InvalidArgument, "bad request"),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "write + etcd key not provided",
    error: etcd("etcdserver: key is not provided", Code.InvalidArgument),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "write + etcd no space",
    error: etcd("etcdserver: mvcc: database space exceeded", Code.ResourceExhausted),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "write + etcd invalid auth token",
    error: etcd("etcdserver: invalid auth token", Code.Unauthenticated),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "write + etcd rpc not supported for learner",
    error: etcd("etcdserver: rpc not supported for learner", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: true,
    indeterminate: false,
  },
  {
    name: "member change + etcd unhealthy cluster",
    error: etcd("etcdserver: unhealthy cluster", Code.Unavailable),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  {
    name: "write + etcd not leader",
    error: etcd("etcdserver: not leader", Code.FailedPrecondition),
    repeatable: false,
    neverSent: false,
    retry: false,
    indeterminate: false,
  },
  // Writes that never left: always safe to retry, never indeterminate.
  {
    name: "write never sent + transport Unavailable",
    error: transport(Code.Unavailable),
    repeatable: false,
    neverSent: true,
    retry: true,
    indeterminate: false,
  },
  {
    name: "write never sent + DeadlineExceeded",
    error: transport(Code.DeadlineExceeded),
    repeatable: false,
    neverSent: true,
    retry: true,
    indeterminate: false,
  },
];

describe("isRetryable", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.retry ? "retry" : "no retry"}`, () => {
      assert.equal(isRetryable(c.error, c.repeatable, c.neverSent), c.retry);
    });
  }
});

describe("isIndeterminate", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.indeterminate ? "indeterminate" : "known outcome"}`, () => {
      assert.equal(isIndeterminate(c.error, c.repeatable, c.neverSent), c.indeterminate);
    });
  }

  it("counts an oversize response to a sent write as indeterminate", () => {
    const error = transport(Code.ResourceExhausted, "message size is larger than configured readMaxBytes 4");
    assert.equal(error.reason, "message_too_large");
    assert.equal(isIndeterminate(error, false, false), true);
    assert.equal(isRetryable(error, false, false), false);
  });

  it("never calls a retryable write indeterminate", () => {
    for (const c of cases.filter((x) => !x.repeatable && x.retry)) {
      assert.equal(isIndeterminate(c.error, false, c.neverSent), false, c.name);
    }
  });
});

describe("isRepeatable for transactions", () => {
  const read = create(RequestOpSchema, {
    request: { case: "requestRange", value: { key: new Uint8Array([1]) } },
  });
  const write = create(RequestOpSchema, {
    request: { case: "requestPut", value: { key: new Uint8Array([1]) } },
  });
  const nested = (ops: RequestOp[]) =>
    create(RequestOpSchema, { request: { case: "requestTxn", value: { success: ops } } });
  const cases: Array<[string, RequestOp[], RequestOp[], boolean]> = [
    ["reads only", [read, read], [read], true],
    ["no ops at all", [], [], true],
    ["a put in then", [read, write], [], false],
    ["a put in else", [read], [write], false],
    ["nested reads", [nested([read])], [], true],
    ["a nested put", [nested([read, write])], [], false],
  ];
  for (const [name, success, failure, expected] of cases) {
    it(`Txn with ${name} is ${expected ? "" : "not "}repeatable`, () => {
      const txn = create(TxnRequestSchema, { success, failure });
      assert.equal(isRepeatable("etcdserverpb.KV", "Txn", txn), expected);
    });
  }
});
