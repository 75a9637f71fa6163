import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient, type Event } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// A watcher tells the application whether it is being served (etcd3's connected/disconnected,
// Go's ErrNoLeader), so it can show "data may be stale" while it is not.
describe("a watcher's status against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd({ faults: true });
    // A short silence bound, so a black-holed stream is noticed within the test.
    client = createClient({ endpoints: [etcd.clientUrl], watchSilenceMs: 500 });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("connected, reconnecting while its member is unreachable, connected again where it left off", async () => {
    const watcher = client.watch("ws/", { prefix: true });
    assert.equal(watcher.status.state, "connecting");
    await watcher.ready;
    assert.equal(watcher.status.state, "connected");
    const put = await client.put("ws/a", "1");
    const iterator = watcher[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.value?.events.length, 1);
    const resumeAt = (put.header?.revision ?? 0n) + 1n;
    assert.equal(watcher.status.revision, resumeAt, "goes on right after the delivered event");

    const lost = watcher.statusChanged();
    etcd.clientProxy?.blackhole();
    const reconnecting = await lost;
    assert.equal(reconnecting.state, "reconnecting");
    assert.equal(reconnecting.revision, resumeAt, "will resume exactly where it left off");
    assert.equal(watcher.status.state, "reconnecting");

    const back = watcher.statusChanged();
    etcd.clientProxy?.heal();
    const connected = await back;
    assert.equal(connected.state, "connected");
    assert.equal(connected.revision, resumeAt);
    await client.put("ws/b", "2");
    const second = await iterator.next();
    assert.deepEqual(
      second.value?.events.map((e: Event) => new TextDecoder().decode(e.kv?.key)),
      ["ws/b"],
    );

    const closed = watcher.statusChanged();
    await watcher.close();
    assert.equal((await closed).state, "closed");
    assert.equal((await watcher.statusChanged()).state, "closed");
  });
});
