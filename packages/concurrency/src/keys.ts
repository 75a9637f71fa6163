import {
  type KeyValue,
  opGet,
  type RangeResponse,
  type RequestOp,
  type TxnResponse,
} from "@etcd-connect/client";
import { ConcurrencyError } from "./concurrency-error.js";

/**
 * The prefix of a mutex, election or recipe named `name`: the name and a "/", always, as Go's
 * `NewMutex(s, pfx)`, `NewElection(s, pfx)` and the recipes do. `etcdctl lock <name>` and
 * `etcdctl elect <name>` use exactly this, which makes them interoperate with us.
 */
export function recipePrefix(name: string): string {
  if (typeof name !== "string") {
    throw new ConcurrencyError("invalid_argument", `the name must be a string, got ${typeof name}`);
  }
  return `${name}/`;
}

/** A session's key under a prefix: the lease id in lowercase hex, Go's `fmt.Sprintf("%s%x")`. */
export function sessionKey(prefix: string, lease: bigint): string {
  return `${prefix}${lease.toString(16)}`;
}

/** Get options selecting the key with the lowest create revision under a prefix. */
export const firstCreated = { prefix: true, sortTarget: "create", sortOrder: "ascend", limit: 1 } as const;

/** The key with the lowest create revision under a prefix: the lock holder, the leader. */
export function opFirstCreated(prefix: string): RequestOp {
  return opGet(prefix, firstCreated);
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The range answer of the `index`-th op of a txn. */
export function rangeAt(res: TxnResponse, index: number): RangeResponse | undefined {
  const op = res.responses[index]?.response;
  return op?.case === "responseRange" ? op.value : undefined;
}

/** The first key-value of the `index`-th op (a get) of a txn. */
export function firstKvAt(res: TxnResponse, index: number): KeyValue | undefined {
  return rangeAt(res, index)?.kvs[0];
}

/**
 * A signal for one operation, aborted when any parent is ("the caller gave up", "the session is
 * over"); `dispose()` detaches it. Calls and watches get this short-lived signal, never the
 * session's own: listeners they leave behind then die with it instead of piling up on a signal
 * that lives as long as the session.
 */
export function operationSignal(...parents: (AbortSignal | undefined)[]): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  const detach: (() => void)[] = [];
  for (const parent of parents) {
    if (parent === undefined) continue;
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    const onAbort = () => controller.abort(parent.reason);
    parent.addEventListener("abort", onAbort, { once: true });
    detach.push(() => parent.removeEventListener("abort", onAbort));
  }
  return {
    signal: controller.signal,
    dispose: () => {
      for (const undo of detach) undo();
    },
  };
}
