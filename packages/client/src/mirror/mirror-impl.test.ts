import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { RangeResponseSchema, ResponseHeaderSchema } from "@etcd-connect/api/etcdserverpb";
import { KeyValueSchema } from "@etcd-connect/api/mvccpb";
import { AsyncQueue } from "../async-queue.js";
import { EtcdError } from "../errors.js";
import type { WatchBatch, Watcher, WatchStatus } from "../watch/watch.js";
import { createMirror } from "./create-mirror.js";
import type { MirrorSource } from "./mirror.js";

const text = (value: string) => new TextEncoder().encode(value);

// A watch that delivers nothing until it is closed: the list's retry rules are what is tested
// here; following a watch is tested against etcd in test/mirror.test.ts.
function idleWatcher(): Watcher {
  const queue = new AsyncQueue<WatchBatch>();
  let status: WatchStatus = { state: "connected", since: Date.now(), revision: 0n };
  let closed: (status: WatchStatus) => void = () => {};
  const closing = new Promise<WatchStatus>((resolve) => {
    closed = resolve;
  });
  const close = async () => {
    status = { ...status, state: "closed", since: Date.now() };
    closed(status);
    queue.end();
  };
  return {
    ready: Promise.resolve(),
    get status() {
      return status;
    },
    statusChanged: () => closing,
    close,
    [Symbol.asyncIterator]: () => queue,
    [Symbol.asyncDispose]: close,
  };
}

// Answers each get with the next of `answers` (an error is thrown), then with one key at revision 5.
function scriptedSource(answers: EtcdError[]): { source: MirrorSource; gets: () => number } {
  let gets = 0;
  const source: MirrorSource = {
    get: async () => {
      gets++;
      const failure = answers.shift();
      if (failure !== undefined) throw failure;
      return create(RangeResponseSchema, {
        header: create(ResponseHeaderSchema, { revision: 5n }),
        kvs: [create(KeyValueSchema, { key: text("p/a"), value: text("1"), modRevision: 4n })],
        count: 1n,
      });
    },
    watch: () => idleWatcher(),
  };
  return { source, gets: () => gets };
}

describe("the mirror's list", () => {
  it("tries again after a failure a later try can get past (no leader, unavailable)", async () => {
    const { source, gets } = scriptedSource([
      new EtcdError("etcdserver: no leader", Code.Unavailable, "no_leader"),
      new EtcdError("no member answered", Code.Unavailable, "unavailable"),
    ]);
    await using mirror = createMirror(source, "p/");
    await mirror.ready;
    assert.equal(gets(), 3);
    assert.equal(mirror.revision, 5n);
    assert.equal(mirror.get("p/a")?.modRevision, 4n);
  });

  it("ends with a failure no later try can get past, rejecting ready", async () => {
    const denied = new EtcdError("etcdserver: permission denied", Code.PermissionDenied, "permission_denied");
    const { source, gets } = scriptedSource([denied]);
    const mirror = createMirror(source, "p/");
    await assert.rejects(mirror.ready, (error: unknown) => error === denied);
    assert.equal(mirror.status.state, "closed");
    assert.equal(mirror.status.error, denied);
    assert.equal(gets(), 1);
    await mirror.close();
  });

  it("ends quietly when its client was closed, rejecting a pending ready with that reason", async () => {
    const closed = new EtcdError("etcd-connect: client is closed", Code.Canceled, "closed");
    const { source } = scriptedSource([closed]);
    const mirror = createMirror(source, "p/");
    await assert.rejects(mirror.ready, (error: unknown) => error === closed);
    assert.equal(mirror.status.state, "closed");
    assert.equal(mirror.status.error, undefined);
  });
});
