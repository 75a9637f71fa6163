// Responses are rebuilt, never edited in place: the layer below may still hold them (a cache,
// a metrics hook, an outer namespace's caller), and a shared message must not change keys under it.

import type {
  DeleteRangeResponse,
  Event,
  KeyValue,
  PutResponse,
  RangeResponse,
  ResponseOp,
  TxnResponse,
} from "@etcd-connect/client";
import { stripPrefix } from "./prefix.js";

/** The key-value with the prefix removed; undefined when its key is outside the prefix. */
export function stripKeyValue(prefix: Uint8Array, kv: KeyValue): KeyValue | undefined {
  const key = stripPrefix(prefix, kv.key);
  return key === undefined ? undefined : { ...kv, key };
}

function stripKeyValues(prefix: Uint8Array, kvs: KeyValue[]): KeyValue[] {
  const out: KeyValue[] = [];
  for (const kv of kvs) {
    const stripped = stripKeyValue(prefix, kv);
    if (stripped !== undefined) out.push(stripped);
  }
  return out;
}

/** A read's response with its keys stripped. */
export function stripRangeResponse(prefix: Uint8Array, res: RangeResponse): RangeResponse {
  return { ...res, kvs: stripKeyValues(prefix, res.kvs) };
}

/** A put's response with its previous key stripped. */
export function stripPutResponse(prefix: Uint8Array, res: PutResponse): PutResponse {
  return res.prevKv === undefined ? { ...res } : { ...res, prevKv: stripKeyValue(prefix, res.prevKv) };
}

/** A delete's response with its previous keys stripped. */
export function stripDeleteResponse(prefix: Uint8Array, res: DeleteRangeResponse): DeleteRangeResponse {
  return { ...res, prevKvs: stripKeyValues(prefix, res.prevKvs) };
}

function stripResponseOp(prefix: Uint8Array, op: ResponseOp): ResponseOp {
  const { response } = op;
  switch (response.case) {
    case "responseRange":
      return { ...op, response: { case: response.case, value: stripRangeResponse(prefix, response.value) } };
    case "responsePut":
      return { ...op, response: { case: response.case, value: stripPutResponse(prefix, response.value) } };
    case "responseDeleteRange":
      return {
        ...op,
        response: { case: response.case, value: stripDeleteResponse(prefix, response.value) },
      };
    case "responseTxn":
      return { ...op, response: { case: response.case, value: stripTxnResponse(prefix, response.value) } };
    default:
      // An empty answer carries no key.
      return { ...op };
  }
}

/** The txn response with every key stripped, nested txns included. */
export function stripTxnResponse(prefix: Uint8Array, res: TxnResponse): TxnResponse {
  return { ...res, responses: res.responses.map((op) => stripResponseOp(prefix, op)) };
}

/** The event with its keys stripped; undefined when its key is outside the prefix. */
export function stripEvent(prefix: Uint8Array, event: Event): Event | undefined {
  if (event.kv === undefined) return { ...event };
  const kv = stripKeyValue(prefix, event.kv);
  if (kv === undefined) return undefined;
  return event.prevKv === undefined
    ? { ...event, kv }
    : { ...event, kv, prevKv: stripKeyValue(prefix, event.prevKv) };
}
