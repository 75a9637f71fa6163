import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { type TxnRequest, type TxnResponse, TxnResponseSchema } from "@etcd-connect/api/etcdserverpb";
import type { CallOptions } from "../call-options.js";
import { EtcdError } from "../errors.js";
import { compare } from "./compare.js";
import { opDelete, opGet, opPut } from "./op.js";
import { Txn } from "./txn.js";

interface Sent {
  request: TxnRequest;
  options: CallOptions;
}

function fakeSend(response: TxnResponse = create(TxnResponseSchema, { succeeded: true })) {
  const sent: Sent[] = [];
  const send = (request: TxnRequest, options: CallOptions): Promise<TxnResponse> => {
    sent.push({ request, options });
    return Promise.resolve(response);
  };
  return { sent, send };
}

function assertInvalid(call: () => unknown, message: RegExp): void {
  assert.throws(call, (error: unknown) => {
    assert.ok(EtcdError.is(error, "invalid_argument"), `expected invalid_argument, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

async function assertRejectsInvalid(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(EtcdError.is(error, "invalid_argument"), `expected invalid_argument, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe("Txn", () => {
  it("sends if, then and else in one request and returns the response", async () => {
    const response = create(TxnResponseSchema, { succeeded: false });
    const { sent, send } = fakeSend(response);
    const signal = new AbortController().signal;
    const res = await new Txn(send)
      .if(compare.value("color", "=", "red"), compare.version("lock", "=", 0))
      .then(opPut("color", "blue"))
      .else(opGet("color"), opDelete("tmp"))
      .commit({ signal, timeoutMs: 500 });
    assert.equal(res, response);
    assert.equal(sent.length, 1);
    const [only] = sent;
    assert.equal(only?.request.compare.length, 2);
    assert.deepEqual(
      only?.request.success.map((op) => op.request.case),
      ["requestPut"],
    );
    assert.deepEqual(
      only?.request.failure.map((op) => op.request.case),
      ["requestRange", "requestDeleteRange"],
    );
    assert.deepEqual(only?.options, { signal, timeoutMs: 500 });
  });

  it("commits an empty txn with empty options", async () => {
    const { sent, send } = fakeSend();
    await new Txn(send).commit();
    assert.equal(sent.length, 1);
    assert.deepEqual(
      [sent[0]?.request.compare.length, sent[0]?.request.success.length, sent[0]?.request.failure.length],
      [0, 0, 0],
    );
    assert.deepEqual(sent[0]?.options, {});
  });

  const allowedOrders: Array<[string, (txn: Txn) => Txn]> = [
    ["if only", (t) => t.if(compare.version("a", ">", 0))],
    ["then only", (t) => t.then(opPut("a", "1"))],
    ["else only", (t) => t.else(opPut("a", "1"))],
    ["if then", (t) => t.if(compare.version("a", ">", 0)).then(opPut("a", "1"))],
    ["if else", (t) => t.if(compare.version("a", ">", 0)).else(opPut("a", "1"))],
    ["then else", (t) => t.then(opPut("a", "1")).else(opGet("a"))],
  ];
  for (const [name, build] of allowedOrders) {
    it(`allows ${name}`, async () => {
      const { sent, send } = fakeSend();
      await build(new Txn(send)).commit();
      assert.equal(sent.length, 1);
    });
  }

  const misuses: Array<[string, (txn: Txn) => unknown, RegExp]> = [
    ["if twice", (t) => t.if().if(), /txn\.if\(\) called twice/],
    ["then twice", (t) => t.then().then(), /txn\.then\(\) called twice/],
    ["else twice", (t) => t.else().else(), /txn\.else\(\) called twice/],
    ["then after else", (t) => t.if().else().then(), /txn\.then\(\) called after \.else\(\)/],
    ["if after then", (t) => t.then().if(), /txn\.if\(\) called after \.then\(\)/],
    ["if after else", (t) => t.else().if(), /txn\.if\(\) called after \.else\(\)/],
  ];
  for (const [name, misuse, message] of misuses) {
    it(`throws on ${name}, before anything is sent`, () => {
      const { sent, send } = fakeSend();
      assertInvalid(() => misuse(new Txn(send)), message);
      assert.equal(sent.length, 0);
    });
  }

  it("keeps the clauses given before a misuse", async () => {
    const { sent, send } = fakeSend();
    const txn = new Txn(send).if(compare.version("a", "=", 0)).then(opPut("a", "1"));
    assertInvalid(() => txn.if(compare.version("b", "=", 0)), /called after/);
    await txn.commit();
    assert.equal(sent[0]?.request.compare.length, 1);
    assert.equal(sent[0]?.request.success.length, 1);
  });

  it("rejects a second commit and sends only once", async () => {
    const { sent, send } = fakeSend();
    const txn = new Txn(send).if(compare.version("a", "=", 0)).then(opPut("a", "1"));
    await txn.commit();
    await assertRejectsInvalid(txn.commit(), /already committed/);
    assert.equal(sent.length, 1);
  });

  it("rejects a second commit made before the first settles", async () => {
    const { sent, send } = fakeSend();
    const txn = new Txn(send).then(opPut("a", "1"));
    const first = txn.commit();
    const second = txn.commit();
    await first;
    await assertRejectsInvalid(second, /already committed/);
    assert.equal(sent.length, 1);
  });

  it("throws on a clause after commit", async () => {
    const { send } = fakeSend();
    const txn = new Txn(send);
    await txn.commit();
    assertInvalid(() => txn.if(), /already committed/);
    assertInvalid(() => txn.then(), /already committed/);
    assertInvalid(() => txn.else(), /already committed/);
  });

  for (const clause of ["if", "then", "else"] as const) {
    it(`rejects 129 ops in ${clause} without calling send`, async () => {
      const { sent, send } = fakeSend();
      const txn = new Txn(send);
      if (clause === "if") txn.if(...Array.from({ length: 129 }, (_, i) => compare.version(`k${i}`, "=", 0)));
      else txn[clause](...Array.from({ length: 129 }, (_, i) => opPut(`k${i}`, "v")));
      await assertRejectsInvalid(txn.commit(), /129 .*--max-txn-ops/);
      assert.equal(sent.length, 0);
    });
  }

  it("accepts 128 ops in every clause", async () => {
    const { sent, send } = fakeSend();
    await new Txn(send)
      .if(...Array.from({ length: 128 }, (_, i) => compare.version(`k${i}`, "=", 0)))
      .then(...Array.from({ length: 128 }, (_, i) => opPut(`k${i}`, "v")))
      .else(...Array.from({ length: 128 }, (_, i) => opGet(`k${i}`)))
      .commit();
    assert.equal(sent.length, 1);
  });

  it("passes a failure of send through unchanged", async () => {
    const failure = new Error("network down");
    const txn = new Txn(() => Promise.reject(failure)).then(opPut("a", "1"));
    await assert.rejects(txn.commit(), (error: unknown) => error === failure);
  });

  // A class with a then() method is a thenable: the promise machinery calls it with its own
  // resolve/reject functions whenever a Txn is awaited or returned from an async function.
  it("rejects clearly when awaited by mistake, instead of hanging", async () => {
    const { sent, send } = fakeSend();
    const build = async (): Promise<unknown> => new Txn(send).if(compare.version("a", "=", 0)) as unknown;
    const pending = new Promise<"pending">((resolve) => setImmediate(() => resolve("pending")));
    const outcome = await Promise.race([
      build().then(
        () => "resolved" as const,
        (error: unknown) => error,
      ),
      pending,
    ]);
    assert.notEqual(outcome, "pending", "awaiting a Txn never settled");
    assert.ok(EtcdError.is(outcome, "invalid_argument"), `expected invalid_argument, got ${String(outcome)}`);
    assert.match(outcome.message, /commit\(\)/);
    assert.equal(sent.length, 0);
  });

  it("stays usable after an accidental await", async () => {
    const { sent, send } = fakeSend();
    const txn = new Txn(send).if(compare.version("a", "=", 0));
    await assert.rejects(Promise.resolve(txn as unknown), /not a promise/);
    await txn.then(opPut("a", "1")).else(opGet("a")).commit();
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.request.compare.length, 1);
    assert.equal(sent[0]?.request.success.length, 1);
    assert.equal(sent[0]?.request.failure.length, 1);
  });
});
