import { Code } from "@connectrpc/connect";
import type { RequestOp, ResponseHeader, TxnRequest, TxnResponse } from "@etcd-connect/api/etcdserverpb";
import type { CallOptions } from "../call-options.js";
import { EtcdError } from "../errors.js";
import type { KV } from "../kv/kv.js";
import { Txn } from "../kv/txn.js";

/** A read answered at a revision older than one already returned; see {@link OrderedKVOptions}. */
export interface OrderViolation {
  /** The call that got the stale answer. */
  readonly method: "get" | "txn";
  /** The revision of the stale answer. */
  readonly revision: bigint;
  /** The highest revision returned before the call began. */
  readonly floor: bigint;
  /** The member that answered (its id, from the response header). */
  readonly memberId: bigint;
}

/** Options of {@link createOrderedKV}. */
export interface OrderedKVOptions {
  /**
   * Called with every stale answer, before the read is sent again as a linearizable read: for
   * logs and metrics (how often a member lags). Default: none.
   */
  onViolation?: (violation: OrderViolation) => void;
}

/** A {@link KV} whose reads never go back in revision; see {@link createOrderedKV}. */
export interface OrderedKV extends KV {
  /** The highest revision any call has returned so far (0 before the first answer). */
  readonly revision: bigint;
}

/**
 * A KV whose reads never return a revision older than one it already returned, as Go's
 * `ordering.NewKV`: serializable reads are cheap (the member answers from its own state) but a
 * member that lags (partitioned, slow to apply) answers from the past, and a client that moves
 * between members could see a key go back to an older value.
 *
 * Every answer's header revision is compared with the highest revision returned before the call
 * began. A read (a get, or a txn of reads only) answered older is sent once more as a
 * linearizable read, which etcd answers only after catching up with the leader, so it cannot be
 * older; the caller gets that answer. Where Go's default handler retries the same serializable
 * read on other members and gives up after a number of tries, one linearizable read settles it
 * at the cost of a round trip to the leader. Writes pass through (they go through the leader);
 * their revisions raise the floor, so a read after a write sees that write or later.
 *
 * A linearizable answer that is still older means the cluster itself went back in time (restored
 * from a backup): the call fails with an `EtcdError` (reason `unavailable`). Calls take the
 * usual {@link CallOptions}; the retry runs under the same `signal` and `timeoutMs`. Give reads a
 * `timeoutMs`: a linearizable read that lands on a member cut off from the leader waits for it
 * until etcd's request timeout (5 s plus two election timeouts in etcd 3.4). Memory: one bigint.
 *
 * @example
 * const kv = createOrderedKV(client);
 * const first = await kv.get("config/", { prefix: true, serializable: true });
 * const later = await kv.get("config/", { prefix: true, serializable: true });
 * // later.header.revision >= first.header.revision, whichever members answered.
 */
export function createOrderedKV(kv: KV, options: OrderedKVOptions = {}): OrderedKV {
  let highest = 0n;
  const raise = (header: ResponseHeader | undefined) => {
    const revision = header?.revision ?? 0n;
    if (revision > highest) highest = revision;
  };
  // Checks an answer against the floor; a stale one is read again linearizable (`again`), or
  // returned as it is when no such read exists (a txn with writes cannot be stale).
  const ordered = async <T extends { header?: ResponseHeader | undefined }>(
    method: OrderViolation["method"],
    floor: bigint,
    answer: T,
    again: (() => Promise<T>) | undefined,
  ): Promise<T> => {
    const revision = answer.header?.revision ?? 0n;
    if (revision >= floor || again === undefined) {
      raise(answer.header);
      return answer;
    }
    options.onViolation?.({ method, revision, floor, memberId: answer.header?.memberId ?? 0n });
    const fresh = await again();
    const freshRevision = fresh.header?.revision ?? 0n;
    if (freshRevision < floor) {
      throw new EtcdError(
        `a linearizable ${method} answered at revision ${freshRevision}, older than revision ${floor} already returned: the cluster went back in time (restored from a backup?)`,
        Code.Unavailable,
        "unavailable",
      );
    }
    raise(fresh.header);
    return fresh;
  };
  const sendTxn = (request: TxnRequest, call: CallOptions): Promise<TxnResponse> =>
    kv
      .txn()
      .if(...request.compare)
      .then(...request.success)
      .else(...request.failure)
      .commit(call);
  return {
    get revision() {
      return highest;
    },
    get: async (key, getOptions) => {
      const floor = highest;
      const answer = await kv.get(key, getOptions);
      return ordered("get", floor, answer, () => kv.get(key, { ...getOptions, serializable: false }));
    },
    put: async (key, value, putOptions) => {
      const answer = await kv.put(key, value, putOptions);
      raise(answer.header);
      return answer;
    },
    delete: async (key, deleteOptions) => {
      const answer = await kv.delete(key, deleteOptions);
      raise(answer.header);
      return answer;
    },
    txn: () =>
      new Txn(async (request, call) => {
        const floor = highest;
        const answer = await sendTxn(request, call);
        const linearizable = linearizableTxn(request);
        return ordered("txn", floor, answer, linearizable && (() => sendTxn(linearizable, call)));
      }),
    compact: (revision, compactOptions) => kv.compact(revision, compactOptions),
  };
}

/**
 * The txn with every read made linearizable (nested txns included), or undefined when it writes:
 * only a txn of reads may be served from a member's own state, and only such a txn may be sent
 * twice.
 */
export function linearizableTxn(txn: TxnRequest): TxnRequest | undefined {
  const success = linearizableOps(txn.success);
  const failure = linearizableOps(txn.failure);
  return success === undefined || failure === undefined ? undefined : { ...txn, success, failure };
}

function linearizableOps(ops: RequestOp[]): RequestOp[] | undefined {
  const out: RequestOp[] = [];
  for (const op of ops) {
    const request = op.request;
    if (request.case === "requestRange") {
      out.push({
        ...op,
        request: { case: "requestRange", value: { ...request.value, serializable: false } },
      });
    } else if (request.case === "requestTxn") {
      const nested = linearizableTxn(request.value);
      if (nested === undefined) return undefined;
      out.push({ ...op, request: { case: "requestTxn", value: nested } });
    } else {
      return undefined;
    }
  }
  return out;
}
