// The watch layer against a fake WatchApi: which range reaches the layer below, and what comes
// back. Events outside the prefix are also dropped on the way back, so the real-etcd tests alone
// could not tell a wrong range from a right one.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bytesToText,
  type Event,
  EventType,
  type KeyValue,
  type WatchApi,
  type WatchBatch,
  type Watcher,
} from "@etcd-connect/client";
import { namespaceWatcher } from "./namespace-watch.js";

const text = (value: string) => new TextEncoder().encode(value);

function keyValue(key: string): KeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key: text(key),
    value: text("v"),
    createRevision: 1n,
    modRevision: 1n,
    version: 1n,
    lease: 0n,
  };
}

function put(key: string, prevKey?: string): Event {
  return prevKey === undefined
    ? { $typeName: "mvccpb.Event", type: EventType.PUT, kv: keyValue(key) }
    : { $typeName: "mvccpb.Event", type: EventType.PUT, kv: keyValue(key), prevKv: keyValue(prevKey) };
}

/** A WatchApi that records its calls and serves the given batches to every watch. */
function fakeWatchApi(batches: WatchBatch[]) {
  const calls: Array<{ key: string; options: unknown }> = [];
  const log: string[] = [];
  const api: WatchApi = {
    watch: (key, options) => {
      calls.push({ key: bytesToText(key as Uint8Array), options });
      let i = 0;
      const status = { state: "connected", since: 0, revision: 0n } as const;
      const watcher: Watcher = {
        ready: Promise.resolve(),
        status,
        statusChanged: async () => status,
        close: async () => void log.push("close"),
        [Symbol.asyncDispose]: async () => void log.push("dispose"),
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            const value = batches[i++];
            return value === undefined ? { done: true, value: undefined } : { done: false, value };
          },
          return: async () => {
            log.push("return");
            return { done: true, value: undefined };
          },
        }),
      };
      return watcher;
    },
    requestProgress: async () => void log.push("progress"),
  };
  return { api, calls, log };
}

describe("namespaceWatcher (fake WatchApi below)", () => {
  it("watches the prefixed range; other options pass through", () => {
    const { api, calls } = fakeWatchApi([]);
    const ns = namespaceWatcher(api, "ns/");
    ns.watch("k", { prevKv: true, startRevision: 5n });
    ns.watch("jobs/", { prefix: true });
    ns.watch("m", { fromKey: true, noDelete: true });
    ns.watch("", { prefix: true });
    ns.watch("a", { rangeEnd: "c" });
    const end = (options: unknown) => {
      const rangeEnd = (options as { rangeEnd?: Uint8Array }).rangeEnd;
      return rangeEnd === undefined ? undefined : bytesToText(rangeEnd);
    };
    assert.deepEqual(
      calls.map((c) => [c.key, end(c.options)]),
      [
        ["ns/k", undefined],
        ["ns/jobs/", "ns/jobs0"],
        ["ns/m", "ns0"],
        ["ns/\0", "ns0"],
        ["ns/a", "ns/c"],
      ],
    );
    assert.deepEqual(calls[0]?.options, { prevKv: true, startRevision: 5n });
    assert.deepEqual(calls[2]?.options, { noDelete: true, rangeEnd: text("ns0") });
  });

  it("strips kv and prevKv, drops foreign events, passes progress batches", async () => {
    const progress: WatchBatch = { events: [], revision: 7n, progress: true };
    const foreignOnly: WatchBatch = { events: [put("other/x")], revision: 8n, progress: false };
    const mixed: WatchBatch = {
      events: [put("ns/a", "ns/a"), put("other/y")],
      revision: 9n,
      progress: false,
    };
    const { api } = fakeWatchApi([progress, foreignOnly, mixed]);
    const seen: Array<[bigint, boolean, string[]]> = [];
    for await (const batch of namespaceWatcher(api, "ns/").watch("", { prefix: true })) {
      seen.push([
        batch.revision,
        batch.progress,
        batch.events.map(
          (e) => `${bytesToText(e.kv?.key ?? text(""))}/${bytesToText(e.prevKv?.key ?? text(""))}`,
        ),
      ]);
    }
    assert.deepEqual(seen, [
      [7n, true, []],
      [9n, false, ["a/a"]],
    ]);
    // The layer below keeps its own, prefixed, events.
    assert.equal(bytesToText(mixed.events[0]?.kv?.key ?? text("")), "ns/a");
  });

  it("hands leaving the loop, close, dispose and requestProgress to the layer below", async () => {
    const { api, log } = fakeWatchApi([{ events: [put("ns/a")], revision: 1n, progress: false }]);
    const ns = namespaceWatcher(api, "ns/");
    for await (const _ of ns.watch("a")) break;
    await ns.watch("a").close();
    await ns.watch("a")[Symbol.asyncDispose]();
    await ns.requestProgress();
    assert.deepEqual(log, ["return", "close", "dispose", "progress"]);
  });

  it("throws on bad input before watching", () => {
    const { api, calls } = fakeWatchApi([]);
    const ns = namespaceWatcher(api, "ns/");
    assert.throws(() => ns.watch(""), /key must not be empty/);
    assert.throws(() => ns.watch("a", { prefix: true, fromKey: true }), /only one of/);
    assert.deepEqual(calls, []);
  });
});
