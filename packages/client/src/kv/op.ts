import {
  type Compare,
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RequestOp,
  type TxnRequest,
} from "@etcd-connect/api/etcdserverpb";
import { type Bytes, toBytes } from "../bytes.js";
import { invalidArgument } from "../errors.js";
import { type Int64Like, toInt64 } from "../int64.js";
import { keyRange, type RangeSelector } from "../key-range.js";

/** Read options: which keys, at which revision, and what to return. */
export interface GetOptions extends RangeSelector {
  /** Most keys to return; 0 is no limit. Default: 0. */
  limit?: Int64Like;
  /** Read at this revision; 0 is the latest. Default: 0. */
  revision?: Int64Like;
  /** Default: "none" (key order). */
  sortOrder?: "none" | "ascend" | "descend";
  /** Default: "key". */
  sortTarget?: "key" | "version" | "create" | "mod" | "value";
  /** Answer from the member's local state without a quorum read (may be stale). Default: false. */
  serializable?: boolean;
  /** Return keys without values. Default: false. */
  keysOnly?: boolean;
  /** Return only the count. Default: false. */
  countOnly?: boolean;
  /** Filters on the keys' modification and creation revisions; 0 is no filter. */
  minModRevision?: Int64Like;
  maxModRevision?: Int64Like;
  minCreateRevision?: Int64Like;
  maxCreateRevision?: Int64Like;
}

/** Write options of a put. */
export interface PutOptions {
  /** Attach the key to this lease; 0 is none. Default: 0. */
  lease?: Int64Like;
  /** Return the previous key-value in the response. Default: false. */
  prevKv?: boolean;
  /** Keep the current value (update only the lease). Default: false. */
  ignoreValue?: boolean;
  /** Keep the current lease (update only the value). Default: false. */
  ignoreLease?: boolean;
}

/** Which keys a delete removes. */
export interface DeleteOptions extends RangeSelector {
  /** Return the deleted key-values. Default: false. */
  prevKv?: boolean;
}

const sortOrders = {
  none: RangeRequest_SortOrder.NONE,
  ascend: RangeRequest_SortOrder.ASCEND,
  descend: RangeRequest_SortOrder.DESCEND,
} as const;
const sortTargets = {
  key: RangeRequest_SortTarget.KEY,
  version: RangeRequest_SortTarget.VERSION,
  create: RangeRequest_SortTarget.CREATE,
  mod: RangeRequest_SortTarget.MOD,
  value: RangeRequest_SortTarget.VALUE,
} as const;

function optionalInt64(name: string, value: Int64Like | undefined): bigint {
  return value === undefined ? 0n : toInt64(name, value);
}

/** Builds and validates a RangeRequest. */
export function rangeRequest(key: Bytes, options: GetOptions = {}): RangeRequest {
  const orderName = options.sortOrder ?? "none";
  const targetName = options.sortTarget ?? "key";
  if (!Object.hasOwn(sortOrders, orderName)) throw invalidArgument(`unknown sortOrder ${String(orderName)}`);
  if (!Object.hasOwn(sortTargets, targetName))
    throw invalidArgument(`unknown sortTarget ${String(targetName)}`);
  const range = keyRange(key, options);
  // A literal, not create(): protobuf-es walks the schema on every create(), about 5 µs for a
  // RangeRequest (measured); op.test.ts holds the literal equal to what create() builds.
  return {
    $typeName: "etcdserverpb.RangeRequest",
    key: range.key,
    rangeEnd: range.rangeEnd,
    limit: optionalInt64("limit", options.limit),
    revision: optionalInt64("revision", options.revision),
    sortOrder: sortOrders[orderName],
    sortTarget: sortTargets[targetName],
    serializable: options.serializable ?? false,
    keysOnly: options.keysOnly ?? false,
    countOnly: options.countOnly ?? false,
    minModRevision: optionalInt64("minModRevision", options.minModRevision),
    maxModRevision: optionalInt64("maxModRevision", options.maxModRevision),
    minCreateRevision: optionalInt64("minCreateRevision", options.minCreateRevision),
    maxCreateRevision: optionalInt64("maxCreateRevision", options.maxCreateRevision),
  };
}

/** Builds and validates a PutRequest. */
export function putRequest(key: Bytes, value: Bytes, options: PutOptions = {}): PutRequest {
  const k = toBytes(key);
  if (k.length === 0) throw invalidArgument("key must not be empty");
  if (value === undefined || value === null) throw invalidArgument("value must be a string or Uint8Array");
  // A literal, not create(), as in rangeRequest.
  return {
    $typeName: "etcdserverpb.PutRequest",
    key: k,
    value: toBytes(value),
    lease: optionalInt64("lease", options.lease),
    prevKv: options.prevKv ?? false,
    ignoreValue: options.ignoreValue ?? false,
    ignoreLease: options.ignoreLease ?? false,
  };
}

/** Builds and validates a DeleteRangeRequest. */
export function deleteRequest(key: Bytes, options: DeleteOptions = {}): DeleteRangeRequest {
  const range = keyRange(key, options);
  // A literal, not create(), as in rangeRequest.
  return {
    $typeName: "etcdserverpb.DeleteRangeRequest",
    key: range.key,
    rangeEnd: range.rangeEnd,
    prevKv: options.prevKv ?? false,
  };
}

/** etcd's default `--max-txn-ops`. */
export const maxTxnOps = 128;

function checkTxnOps(name: string, list: readonly unknown[]): void {
  if (list.length > maxTxnOps) {
    throw invalidArgument(`txn has ${list.length} ${name}; etcd allows at most ${maxTxnOps} (--max-txn-ops)`);
  }
}

/** Builds and validates a TxnRequest. */
export function txnRequest(compare: Compare[], success: RequestOp[], failure: RequestOp[]): TxnRequest {
  checkTxnOps("compares", compare);
  checkTxnOps("then ops", success);
  checkTxnOps("else ops", failure);
  // A literal, not create(): the lists hold messages already (compare.*, op*), which create()
  // would walk again.
  return { $typeName: "etcdserverpb.TxnRequest", compare, success, failure };
}

/**
 * A {@link RequestOp} of one kind, as {@link opGet}, {@link opPut}, {@link opDelete} and
 * {@link opTxn} build it: `client.do(op)` then knows which response it gets.
 */
export type RequestOpOf<C extends NonNullable<RequestOp["request"]["case"]>> = RequestOp & {
  request: Extract<RequestOp["request"], { case: C }>;
};

/** A get inside a txn, or for `client.do`. */
export function opGet(key: Bytes, options?: GetOptions): RequestOpOf<"requestRange"> {
  return requestOp({ case: "requestRange", value: rangeRequest(key, options) });
}

/** A put inside a txn, or for `client.do`. */
export function opPut(key: Bytes, value: Bytes, options?: PutOptions): RequestOpOf<"requestPut"> {
  return requestOp({ case: "requestPut", value: putRequest(key, value, options) });
}

/** A delete inside a txn, or for `client.do`. */
export function opDelete(key: Bytes, options?: DeleteOptions): RequestOpOf<"requestDeleteRange"> {
  return requestOp({ case: "requestDeleteRange", value: deleteRequest(key, options) });
}

/** A nested txn inside a txn (etcd 3.3+), or a whole txn for `client.do`. */
export function opTxn(
  compare: Compare[],
  success: RequestOp[],
  failure: RequestOp[] = [],
): RequestOpOf<"requestTxn"> {
  return requestOp({ case: "requestTxn", value: txnRequest(compare, success, failure) });
}

// A literal, not create(), as in rangeRequest.
function requestOp<R extends RequestOp["request"]>(request: R): RequestOp & { request: R } {
  return { $typeName: "etcdserverpb.RequestOp", request };
}
