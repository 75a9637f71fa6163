import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { type WatchRequest, WatchRequestSchema } from "@etcd-connect/api/etcdserverpb";
import { type Client, createClient } from "@etcd-connect/client";
import { type EtcdCluster, integrationOptions, startCluster } from "@etcd-connect/testing";
import { trapProcessErrors } from "./load.js";

const idleMs = 60_000;

describe("idle streams and etcd's ping policy", integrationOptions(), () => {
  let cluster: EtcdCluster;
  let client: Client;
  const trap = trapProcessErrors();
  before(async () => {
    cluster = await startCluster({ size: 3 });
    client = createClient({ endpoints: cluster.clientUrls });
  });
  after(async () => {
    trap.dispose();
    await client?.close();
    await cluster?.close();
  });

  it(`7. 100 watch streams idle for ${idleMs / 1000} s: no connection closed for pinging too often`, async () => {
    const abort = new AbortController();
    const streams = Array.from({ length: 100 }, (_, i) => {
      const requests = createWritableIterable<WatchRequest>();
      const responses = client.rpc.watch.watch(requests, { signal: abort.signal });
      return { i, requests, responses: responses[Symbol.asyncIterator]() };
    });
    try {
      for (const s of streams) {
        await s.requests.write(
          create(WatchRequestSchema, {
            requestUnion: { case: "createRequest", value: { key: new TextEncoder().encode(`f7/${s.i}`) } },
          }),
        );
      }
      for (const s of streams) {
        const created = await s.responses.next();
        assert.equal(created.value?.created, true);
      }
      await new Promise((resolve) => setTimeout(resolve, idleMs));
      for (const s of streams) await client.put(`f7/${s.i}`, "after the idle time");
      let delivered = 0;
      for (const s of streams) {
        const event = await s.responses.next();
        if (event.value?.events[0]?.kv?.key !== undefined) delivered++;
      }
      console.log(
        `  figure: ${delivered} of 100 idle streams delivered their event after ${idleMs / 1000} s`,
      );
      assert.equal(delivered, 100);
      const logs = cluster.members.map((m) => m.logTail()).join("\n");
      assert.doesNotMatch(logs, /too_many_pings|too many pings/i);
      assert.deepEqual(trap.errors, []);
    } finally {
      abort.abort();
      for (const s of streams) s.requests.close();
    }
  });
});
