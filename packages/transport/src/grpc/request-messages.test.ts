import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, isMessage } from "@bufbuild/protobuf";
import { LeaseKeepAliveRequestSchema } from "@etcd-connect/api/etcdserverpb";
import { type PollableIterator, poll, pollSymbol } from "./pollable-iterator.js";
import { RequestMessages } from "./request-messages.js";

// A caller's iterator of init shapes that holds them all up front, pollable or not.
function held(items: Array<{ ID: bigint }>, pollable: boolean): AsyncIterable<{ ID: bigint }> {
  const iterator: PollableIterator<{ ID: bigint }> = {
    next: async () => iterator[pollSymbol]() ?? { done: true, value: undefined },
    [pollSymbol]: () => {
      const value = items.shift();
      return value === undefined ? { done: true, value: undefined } : { done: false, value };
    },
  };
  return {
    [Symbol.asyncIterator]: () => (pollable ? iterator : { next: () => iterator.next() }),
  };
}

describe("RequestMessages", () => {
  it("polls a pollable caller's iterator, making each init shape a message", () => {
    const made = create(LeaseKeepAliveRequestSchema, { ID: 2n });
    const messages = new RequestMessages(LeaseKeepAliveRequestSchema, held([{ ID: 1n }, made], true));
    const first = poll(messages);
    assert.equal(first?.done, false);
    assert.ok(first?.value !== undefined && isMessage(first.value, LeaseKeepAliveRequestSchema));
    assert.equal(first.value.ID, 1n);
    // A message passes through as it came.
    assert.equal(poll(messages)?.value, made);
    assert.deepEqual(poll(messages), { done: true, value: undefined });
  });

  it("has nothing to hand out by poll when the caller's iterator is not pollable", async () => {
    const messages = new RequestMessages(LeaseKeepAliveRequestSchema, held([{ ID: 1n }], false));
    assert.equal(poll(messages), undefined);
    assert.equal((await messages.next()).value?.ID, 1n);
  });
});
