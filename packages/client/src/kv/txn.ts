import type { Compare, RequestOp, TxnRequest, TxnResponse } from "@etcd-connect/api/etcdserverpb";
import type { CallOptions } from "../call-options.js";
import { invalidArgument } from "../errors.js";
import { txnRequest } from "./op.js";

// The clauses' order; "committed" is not in it.
const order = ["new", "if", "then", "else"];

/**
 * A transaction under construction: `if(...).then(...).else(...).commit()`. Each clause may be
 * given once, in that order; a misuse throws at once, before anything is sent.
 *
 * @example
 * const res = await client
 *   .txn()
 *   .if(compare.value("color", "=", "red"))
 *   .then(opPut("color", "blue"))
 *   .else(opGet("color"))
 *   .commit();
 */
export class Txn {
  private stage: "new" | "if" | "then" | "else" | "committed" = "new";
  private compares: Compare[] = [];
  private success: RequestOp[] = [];
  private failure: RequestOp[] = [];
  private readonly send: (request: TxnRequest, options: CallOptions) => Promise<TxnResponse>;

  constructor(send: (request: TxnRequest, options: CallOptions) => Promise<TxnResponse>) {
    this.send = send;
  }

  private advance(to: "if" | "then" | "else"): void {
    if (this.stage === "committed") throw invalidArgument("txn was already committed");
    if (order.indexOf(this.stage) >= order.indexOf(to)) {
      throw invalidArgument(`txn.${to}() called ${this.stage === to ? "twice" : `after .${this.stage}()`}`);
    }
    this.stage = to;
  }

  /** Conditions that must all hold for the `then` branch to run. */
  if(...compares: Compare[]): this {
    this.advance("if");
    this.compares = compares;
    return this;
  }

  /**
   * Operations run when every condition holds.
   *
   * The name follows etcd's API, which makes a Txn look like a thenable to `await`: a call with
   * a function (what `await txn` does) rejects clearly instead of hanging.
   */
  // biome-ignore lint/suspicious/noThenProperty: etcd's txn vocabulary; guarded against await below.
  then(...ops: RequestOp[]): this {
    const [first, second] = ops as unknown[];
    if (typeof first === "function") {
      const reject = typeof second === "function" ? (second as (e: unknown) => void) : undefined;
      reject?.(invalidArgument("a Txn is not a promise: finish it with .commit()"));
      return this;
    }
    this.advance("then");
    this.success = ops;
    return this;
  }

  /** Operations run when a condition fails. */
  else(...ops: RequestOp[]): this {
    this.advance("else");
    this.failure = ops;
    return this;
  }

  /** Sends the transaction. `succeeded` in the response tells which branch ran. */
  commit(options: CallOptions = {}): Promise<TxnResponse> {
    if (this.stage === "committed") return Promise.reject(invalidArgument("txn was already committed"));
    let request: TxnRequest;
    try {
      request = txnRequest(this.compares, this.success, this.failure);
    } catch (error) {
      return Promise.reject(error);
    }
    this.stage = "committed";
    return this.send(request, options);
  }
}
