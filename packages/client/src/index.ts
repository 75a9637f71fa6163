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
export type { Auth, PermissionGrant, PermissionType } from "./auth.js";
export type { AuthInterceptorOptions } from "./auth-interceptor.js";
export { createAuthInterceptor } from "./auth-interceptor.js";
export type { Bytes } from "./bytes.js";
export { bytesToJson, bytesToText, toBytes } from "./bytes.js";
export type { CallOptions } from "./call-options.js";
export type { Client, RpcClients } from "./client.js";
export { createClient } from "./client.js";
export type {
  ClientLogger,
  ClientObserver,
  ClientOptions,
  ClientTlsOptions,
  Endpoint,
  ResolvedClientOptions,
} from "./client-options.js";
export { parseEndpoint, validateClientOptions } from "./client-options.js";
export type { Cluster } from "./cluster.js";
export type { CompareOperator } from "./compare.js";
export { compare } from "./compare.js";
export type { EtcdErrorDetails, EtcdErrorReason } from "./errors.js";
export { EtcdError, etcdMessageReasons, toEtcdError } from "./errors.js";
export type { Int64Like } from "./int64.js";
export type { RangeSelector } from "./key-range.js";
export { fromKeyEnd, keyRange, prefixEnd } from "./key-range.js";
export type { GetAllOptions, KV } from "./kv.js";
export { exists, firstValue, getAll, getJson, getText } from "./kv.js";
export type { Lease } from "./lease.js";
export type { LeaseKeeper } from "./lease-keeper.js";
export type { AlarmTarget, Maintenance } from "./maintenance.js";
export type { DeleteOptions, GetOptions, PutOptions } from "./op.js";
export { maxTxnOps, opDelete, opGet, opPut, opTxn } from "./op.js";
export type { RetryInterceptorOptions } from "./retry-interceptor.js";
export { createRetryInterceptor } from "./retry-interceptor.js";
export type { RetryOptions } from "./retry-policy.js";
export { isRepeatable } from "./retry-policy.js";
export type { SnapshotOptions, SnapshotProgress, SnapshotToFileOptions } from "./snapshot.js";
export { SnapshotVerifier, snapshotChecksumBytes } from "./snapshot.js";
export { Txn } from "./txn.js";
export type { WatchApi, WatchBatch, Watcher, WatchOptions } from "./watch.js";
