import { create } from "@bufbuild/protobuf";
import type { Client as ConnectClient } from "@connectrpc/connect";
import {
  CompactionRequestSchema,
  type CompactionResponse,
  type DeleteRangeResponse,
  type KV as KVService,
  type PutResponse,
  type RangeResponse,
  type TxnRequest,
} from "@etcd-connect/api/etcdserverpb";
import { type Bytes, bytesToJson, bytesToText } from "../bytes.js";
import { type CallOptions, callEtcd, pickCallOptions } from "../call-options.js";
import { invalidArgument } from "../errors.js";
import { type Int64Like, toInt64 } from "../int64.js";
import {
  type DeleteOptions,
  deleteRequest,
  type GetOptions,
  type PutOptions,
  putRequest,
  rangeRequest,
} from "./op.js";
import { Txn } from "./txn.js";

/**
 * etcd's key-value API, as Go's `clientv3.KV`. The client implements it; so do namespaces,
 * so code written against `KV` runs unchanged on either.
 *
 * @example
 * await kv.put("greeting", "hello");
 * const res = await kv.get("greeting");
 * console.log(new TextDecoder().decode(res.kvs[0]?.value));
 */
export interface KV {
  /** Reads one key, a range, a prefix or every key from a key on. */
  get(key: Bytes, options?: GetOptions & CallOptions): Promise<RangeResponse>;
  /** Writes a key. */
  put(key: Bytes, value: Bytes, options?: PutOptions & CallOptions): Promise<PutResponse>;
  /** Deletes a key, a range or a prefix. */
  delete(key: Bytes, options?: DeleteOptions & CallOptions): Promise<DeleteRangeResponse>;
  /** Starts a transaction. */
  txn(): Txn;
  /** Compacts the history up to `revision`; `physical` waits until the space is reclaimed. */
  compact(revision: Int64Like, options?: { physical?: boolean } & CallOptions): Promise<CompactionResponse>;
}

/** The KV facade over a generated Connect client. */
export function createKV(rpc: ConnectClient<typeof KVService>): KV {
  // One sender for every Txn: a txn is built per call, its sender need not be.
  const sendTxn = (request: TxnRequest, options: CallOptions) =>
    callEtcd(options, (call) => rpc.txn(request, call));
  const kv: KV = {
    get: (key, options) => callEtcd(options, (call) => rpc.range(rangeRequest(key, options), call)),
    put: (key, value, options) => callEtcd(options, (call) => rpc.put(putRequest(key, value, options), call)),
    delete: (key, options) => callEtcd(options, (call) => rpc.deleteRange(deleteRequest(key, options), call)),
    txn: () => new Txn(sendTxn),
    compact: (revision, options) =>
      callEtcd(options, (call) =>
        rpc.compact(
          create(CompactionRequestSchema, {
            revision: toInt64("revision", revision),
            physical: options?.physical ?? false,
          }),
          call,
        ),
      ),
  };
  return kv;
}

/** The value of the first key of a read, or undefined when there is none. */
export function firstValue(res: RangeResponse): Uint8Array | undefined {
  return res.kvs[0]?.value;
}

/** Reads one key's value as UTF-8 text; undefined when the key does not exist. */
export async function getText(
  kv: KV,
  key: Bytes,
  options?: GetOptions & CallOptions,
): Promise<string | undefined> {
  const value = firstValue(await kv.get(key, options));
  return value === undefined ? undefined : bytesToText(value);
}

/** Reads one key's value as JSON; undefined when the key does not exist. */
export async function getJson<T = unknown>(
  kv: KV,
  key: Bytes,
  options?: GetOptions & CallOptions,
): Promise<T | undefined> {
  const value = firstValue(await kv.get(key, options));
  return value === undefined ? undefined : bytesToJson<T>(value);
}

/** Whether a key exists (a count-only read: no value crosses the wire). */
export async function exists(kv: KV, key: Bytes, options?: CallOptions): Promise<boolean> {
  const res = await kv.get(key, { ...options, countOnly: true });
  return res.count > 0n;
}

/** Options of {@link getAll}. */
export interface GetAllOptions extends CallOptions {
  /** Keys per page. Default: 1000. */
  pageSize?: number;
  /** Read at this revision; default: the revision of the first page, so every page agrees. */
  revision?: Int64Like;
  /** Return keys without values. Default: false. */
  keysOnly?: boolean;
  /** Page through a range [key, rangeEnd) instead of the prefix `key`. */
  rangeEnd?: Bytes;
}

/**
 * Pages through every key with a prefix (or a range), all pages pinned to one revision, so
 * a range larger than `maxCallRecvMsgSize` can be read consistently.
 *
 * @example
 * for await (const page of getAll(client, "jobs/")) for (const kv of page.kvs) console.log(kv.key);
 */
export async function* getAll(
  kv: KV,
  prefix: Bytes,
  options: GetAllOptions = {},
): AsyncGenerator<RangeResponse> {
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw invalidArgument("pageSize must be an integer >= 1");
  const first = rangeRequest(
    prefix,
    options.rangeEnd === undefined ? { prefix: true } : { rangeEnd: options.rangeEnd },
  );
  const rangeEnd = first.rangeEnd;
  let key = first.key;
  let revision = options.revision === undefined ? 0n : toInt64("revision", options.revision);
  for (;;) {
    const page = await kv.get(key, {
      ...pickCallOptions(options),
      rangeEnd,
      limit: pageSize,
      revision,
      keysOnly: options.keysOnly ?? false,
    });
    if (revision === 0n) revision = page.header?.revision ?? 0n;
    yield page;
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || last === undefined) return;
    key = new Uint8Array(last.key.length + 1);
    key.set(last.key);
  }
}
