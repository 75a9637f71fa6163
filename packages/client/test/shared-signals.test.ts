import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import { type EtcdMember, enableAuth, integrationOptions, startEtcd } from "@etcd-connect/testing";

// An application passes one shutdown signal to everything it starts, and calls without a signal
// share the client's never-aborting one. Node warns (MaxListenersExceededWarning) past 10 abort
// listeners on one signal; none of this may warn, and nothing may stay attached once it ended.

/** Collects process warnings while `fn` runs. */
async function warningsDuring(fn: () => Promise<void>): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  process.on("warning", onWarning);
  try {
    await fn();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", onWarning);
  }
  return warnings;
}

describe("one signal shared by many calls, watches and keepers", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("10,000 watches and 1,000 keepers on one signal: no warning, nothing attached once they end", async () => {
    const shutdown = new AbortController();
    const leases: bigint[] = [];
    for (let i = 0; i < 10; i++) {
      const granted = await Promise.all(Array.from({ length: 100 }, () => client.lease.grant(30)));
      leases.push(...granted.map((g) => g.ID));
    }
    const warnings = await warningsDuring(async () => {
      const watchers = Array.from({ length: 10_000 }, (_, i) =>
        client.watch(`shared/${i}`, { signal: shutdown.signal }),
      );
      const keepers = leases.map((id) => client.lease.keepAlive(id, { signal: shutdown.signal }));
      await Promise.all(watchers.map((w) => w.ready));
      // While they run the signal carries one listener for all of them.
      assert.ok(getEventListeners(shutdown.signal, "abort").length <= 1);
      for (const watcher of watchers) await watcher.close();
      for (const keeper of keepers) await keeper.close();
    });
    assert.deepEqual(warnings, []);
    assert.equal(getEventListeners(shutdown.signal, "abort").length, 0, "nothing left attached");
    await Promise.all(leases.map((id) => client.lease.revoke(id)));
  });

  it("aborting the shared signal ends every watch loop cleanly", async () => {
    const shutdown = new AbortController();
    const watchers = Array.from({ length: 50 }, (_, i) =>
      client.watch(`abort/${i}`, { signal: shutdown.signal }),
    );
    await Promise.all(watchers.map((w) => w.ready));
    const loops = watchers.map(async (watcher) => {
      let batches = 0;
      for await (const _batch of watcher) batches++;
      return batches;
    });
    await client.put("abort/0", "v");
    shutdown.abort();
    const ended = await Promise.allSettled(loops);
    assert.deepEqual(
      ended.filter((r) => r.status === "rejected"),
      [],
    );
  });

  it("closing the client ends a reader's watch loop cleanly, not with an error", async () => {
    const own = createClient({ endpoints: [etcd.clientUrl] });
    const watcher = own.watch("closing/", { prefix: true });
    await watcher.ready;
    await own.put("closing/a", "1");
    const loop = (async () => {
      let events = 0;
      for await (const batch of watcher) {
        events += batch.events.length;
        if (events === 1) void own.close();
      }
      return events;
    })();
    assert.equal(await loop, 1);
  });
});

describe("calls waiting for a token, without a signal", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
    await enableAuth(etcd, { rootPassword: "root-pw" });
  });
  after(async () => {
    await etcd?.close();
  });

  it("100 concurrent calls waiting for the first token print no warning", async () => {
    await using auth = createClient({ endpoints: [etcd.clientUrl], username: "root", password: "root-pw" });
    const warnings = await warningsDuring(async () => {
      const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => auth.get(`tok/${i}`)));
      assert.deepEqual(
        results.filter((r) => r.status === "rejected"),
        [],
      );
    });
    assert.deepEqual(warnings, []);
  });
});
