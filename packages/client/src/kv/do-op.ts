import type { Client as ConnectClient } from "@connectrpc/connect";
import type {
  DeleteRangeResponse,
  KV as KVService,
  PutResponse,
  RangeResponse,
  RequestOp,
  TxnResponse,
} from "@etcd-connect/api/etcdserverpb";
import { type CallOptions, callEtcd } from "../call-options.js";
import { invalidArgument } from "../errors.js";
import { txnRequest } from "./op.js";

/** What `client.do(op)` answers: the kind of op that ran and etcd's response to it. */
export type OpResponse =
  | { readonly op: "get"; readonly response: RangeResponse }
  | { readonly op: "put"; readonly response: PutResponse }
  | { readonly op: "delete"; readonly response: DeleteRangeResponse }
  | { readonly op: "txn"; readonly response: TxnResponse };

interface OpKinds {
  requestRange: "get";
  requestPut: "put";
  requestDeleteRange: "delete";
  requestTxn: "txn";
}

/**
 * The {@link OpResponse} of an op: the one variant for an op whose kind the type says (as
 * `opGet`, `opPut`, `opDelete` and `opTxn` return them), else any of them.
 */
export type OpResponseFor<O extends RequestOp> = Extract<
  OpResponse,
  { op: OpKinds[Extract<O["request"]["case"], keyof OpKinds>] }
>;

/** `client.do`: runs one op on its own. */
export type DoOp = <O extends RequestOp>(op: O, options?: CallOptions) => Promise<OpResponseFor<O>>;

/**
 * Runs an op built by `opGet`, `opPut`, `opDelete` or `opTxn` as its own Range, Put,
 * DeleteRange or Txn call, as Go's `KV.Do`: code can build a request once and send it alone or
 * inside a transaction. The op is checked before anything is sent.
 */
export function createDo(rpc: ConnectClient<typeof KVService>): DoOp {
  const run = (op: RequestOp, options: CallOptions | undefined): Promise<OpResponse> =>
    callEtcd(options, async (call): Promise<OpResponse> => {
      const request = checkedRequest(op);
      switch (request.case) {
        case "requestRange":
          return { op: "get", response: await rpc.range(request.value, call) };
        case "requestPut":
          return { op: "put", response: await rpc.put(request.value, call) };
        case "requestDeleteRange":
          return { op: "delete", response: await rpc.deleteRange(request.value, call) };
        case "requestTxn":
          return { op: "txn", response: await rpc.txn(request.value, call) };
      }
    });
  return run as DoOp;
}

type KnownRequest = Exclude<RequestOp["request"], { case: undefined }>;

// The builders validate what they build; this catches a hand-made op (or a JavaScript caller's
// stray value) that etcd would refuse less clearly or, for an empty key, read as another key.
function checkedRequest(op: RequestOp): KnownRequest {
  const request = (op as Partial<RequestOp> | null | undefined)?.request;
  const value: unknown = request?.value;
  if (request === undefined || request.case === undefined || typeof value !== "object" || value === null) {
    throw invalidArgument("do needs an op built by opGet, opPut, opDelete or opTxn");
  }
  if (request.case === "requestTxn") {
    const { compare, success, failure } = request.value;
    txnRequest(compare, success, failure);
    return request;
  }
  const key = (value as { key?: unknown }).key;
  if (!(key instanceof Uint8Array) || key.length === 0)
    throw invalidArgument("the op's key must not be empty");
  return request;
}
