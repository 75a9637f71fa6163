/**
 * The etcd v3 client: KV, Txn, Watch, Lease, Auth, Cluster and Maintenance over balanced, failing-over connections to the members.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/client
 */

// The generated messages the facades take and return, so users never import from gen/.

export type { Permission } from "@etcd-connect/api/authpb";
export { Permission_Type } from "@etcd-connect/api/authpb";
export type {
  AlarmMember,
  AlarmResponse,
  AuthDisableResponse,
  AuthEnableResponse,
  AuthenticateResponse,
  AuthRoleAddResponse,
  AuthRoleDeleteResponse,
  AuthRoleGetResponse,
  AuthRoleGrantPermissionResponse,
  AuthRoleListResponse,
  AuthRoleRevokePermissionResponse,
  AuthStatusResponse,
  AuthUserAddResponse,
  AuthUserChangePasswordResponse,
  AuthUserDeleteResponse,
  AuthUserGetResponse,
  AuthUserGrantRoleResponse,
  AuthUserListResponse,
  AuthUserRevokeRoleResponse,
  CompactionResponse,
  Compare,
  DefragmentResponse,
  DeleteRangeResponse,
  DowngradeResponse,
  HashKVResponse,
  HashResponse,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  Member,
  MemberAddResponse,
  MemberListResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  MoveLeaderResponse,
  PutResponse,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  StatusResponse,
  TxnResponse,
} from "@etcd-connect/api/etcdserverpb";
export { AlarmType } from "@etcd-connect/api/etcdserverpb";
export type { Event, KeyValue } from "@etcd-connect/api/mvccpb";
export { Event_EventType as EventType } from "@etcd-connect/api/mvccpb";
export type {
  LeaderKey,
  LeaderResponse,
  ProclaimResponse,
  ResignResponse,
} from "@etcd-connect/api/v3electionpb";
export type { LockResponse, UnlockResponse } from "@etcd-connect/api/v3lockpb";
export type { Auth, PermissionGrant, PermissionType } from "./admin/auth.js";
export type { Cluster } from "./admin/cluster.js";
export type { ElectionService } from "./admin/election-service.js";
export type { LockOptions, LockService } from "./admin/lock-service.js";
export type { AlarmTarget, Maintenance } from "./admin/maintenance.js";
export type {
  SnapshotOptions,
  SnapshotProgress,
  SnapshotResult,
  SnapshotToFileOptions,
} from "./admin/snapshot.js";
export { SnapshotVerifier } from "./admin/snapshot.js";
export type { Bytes } from "./bytes.js";
export { bytesToJson, bytesToText, toBytes } from "./bytes.js";
export type { AuthInterceptorOptions } from "./call/auth-interceptor.js";
export { createAuthInterceptor } from "./call/auth-interceptor.js";
export type { RetryInterceptorOptions } from "./call/retry-interceptor.js";
export { createRetryInterceptor } from "./call/retry-interceptor.js";
export type { RetryOptions } from "./call/retry-policy.js";
export { isRepeatable } from "./call/retry-policy.js";
export type { CallOptions } from "./call-options.js";
export type { Client } from "./client.js";
export { createClient } from "./client.js";
export type {
  ClientLogger,
  ClientObserver,
  ClientOptions,
  ClientTlsOptions,
  Endpoint,
} from "./client-options.js";
export { parseEndpoint } from "./client-options.js";
export type { EtcdErrorDetails, EtcdErrorReason } from "./errors.js";
export { EtcdError, toEtcdError } from "./errors.js";
export type { EtcdApi } from "./etcd-api.js";
export type { Int64Like } from "./int64.js";
export type { RangeSelector } from "./key-range.js";
export { fromKeyEnd, keyRange, prefixEnd } from "./key-range.js";
export type { CompareOperator } from "./kv/compare.js";
export { compare } from "./kv/compare.js";
export type { OpResponse, OpResponseFor } from "./kv/do-op.js";
export type { FirstLastOptions } from "./kv/first-last.js";
export { getFirst, getLast } from "./kv/first-last.js";
export type { GetAllValuesOptions } from "./kv/get-all-values.js";
export { getAllJson, getAllText } from "./kv/get-all-values.js";
export type { GetAllOptions, KV } from "./kv/kv.js";
export { exists, firstValue, getAll, getJson, getText } from "./kv/kv.js";
export type { DeleteOptions, GetOptions, PutOptions, RequestOpOf } from "./kv/op.js";
export { maxTxnOps, opDelete, opGet, opPut, opTxn } from "./kv/op.js";
export { Txn } from "./kv/txn.js";
export type { Lease } from "./lease/lease.js";
export type { LeaseKeeper } from "./lease/lease-keeper.js";
export { createMirror } from "./mirror/create-mirror.js";
export type {
  Mirror,
  MirrorBatch,
  MirrorChange,
  MirrorChangesOptions,
  MirrorEntry,
  MirrorOptions,
  MirrorSource,
  MirrorStatus,
} from "./mirror/mirror.js";
export type { OrderedKV, OrderedKVOptions, OrderViolation } from "./ordering/ordered-kv.js";
export { createOrderedKV } from "./ordering/ordered-kv.js";
export type { RpcClients } from "./rpc-clients.js";
export type { WatchApi, WatchBatch, Watcher, WatchOptions, WatchStatus } from "./watch/watch.js";
