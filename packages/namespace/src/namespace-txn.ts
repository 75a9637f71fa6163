import { type Compare, type KV, type RequestOp, Txn } from "@etcd-connect/client";
import { invalidArgument } from "./errors.js";
import { type KeyInterval, prefixInterval, prefixKey } from "./prefix.js";
import { stripTxnResponse } from "./strip-responses.js";

type TxnRequest = Extract<RequestOp["request"], { case: "requestTxn" }>["value"];

// The client's builders never produce an empty key, but a hand-made message can; prefixed, it
// would quietly name the prefix itself instead of failing as etcd fails it.
function requireKey(key: Uint8Array, what: string): void {
  if (key.length === 0) throw invalidArgument(`${what} has an empty key; a namespace cannot place it`);
}

function prefixRange(prefix: Uint8Array, key: Uint8Array, rangeEnd: Uint8Array, what: string): KeyInterval {
  requireKey(key, what);
  return prefixInterval(prefix, key, rangeEnd);
}

/** The compare moved under `prefix`, range compares included; the caller's message is left alone. */
export function prefixCompare(prefix: Uint8Array, compare: Compare): Compare {
  return { ...compare, ...prefixRange(prefix, compare.key, compare.rangeEnd, "a txn compare") };
}

/** The op moved under `prefix`, nested txns included; the caller's message is left alone. */
export function prefixOp(prefix: Uint8Array, op: RequestOp): RequestOp {
  const { request } = op;
  switch (request.case) {
    case "requestRange":
      return {
        ...op,
        request: {
          case: request.case,
          value: {
            ...request.value,
            ...prefixRange(prefix, request.value.key, request.value.rangeEnd, "a get op"),
          },
        },
      };
    case "requestDeleteRange":
      return {
        ...op,
        request: {
          case: request.case,
          value: {
            ...request.value,
            ...prefixRange(prefix, request.value.key, request.value.rangeEnd, "a delete op"),
          },
        },
      };
    case "requestPut":
      requireKey(request.value.key, "a put op");
      return {
        ...op,
        request: {
          case: request.case,
          value: { ...request.value, key: prefixKey(prefix, request.value.key) },
        },
      };
    case "requestTxn":
      return { ...op, request: { case: request.case, value: prefixTxnRequest(prefix, request.value) } };
    default:
      // Nothing to place under the prefix means nothing we can vouch for: refuse, never pass on.
      throw invalidArgument("a txn op without a request cannot be namespaced");
  }
}

function prefixTxnRequest(prefix: Uint8Array, txn: TxnRequest): TxnRequest {
  return {
    ...txn,
    compare: txn.compare.map((c) => prefixCompare(prefix, c)),
    success: txn.success.map((op) => prefixOp(prefix, op)),
    failure: txn.failure.map((op) => prefixOp(prefix, op)),
  };
}

/**
 * A transaction builder whose compares and ops live under `prefix`. It rebuilds the
 * transaction on the layer below through that layer's own `txn()`, so it works over any KV,
 * another namespace included, and strips the prefix from every key of the response.
 */
export function namespaceTxn(kv: KV, prefix: Uint8Array): Txn {
  return new Txn(async (request, options) => {
    const txn = prefixTxnRequest(prefix, request);
    const res = await kv
      .txn()
      .if(...txn.compare)
      .then(...txn.success)
      .else(...txn.failure)
      .commit(options);
    return stripTxnResponse(prefix, res);
  });
}
