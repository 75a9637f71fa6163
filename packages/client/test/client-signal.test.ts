import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { after, before, describe, it } from "node:test";
import { createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// The client-wide `signal` option (Go's Config.Context): aborting it closes the client.

describe("createClient({ signal })", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    etcd?.resume();
    await etcd?.close();
  });

  it("closes the client on abort: calls in flight and later fail with closed, watches end", async () => {
    const controller = new AbortController();
    let closedEvents = 0;
    const client = createClient({
      endpoints: [etcd.clientUrl],
      signal: controller.signal,
      observer: { onClose: () => closedEvents++ },
    });
    try {
      await client.put("signal/k", "v");
      const watcher = client.watch("signal/", { prefix: true });
      await watcher.ready;
      const watched = (async () => {
        let batches = 0;
        for await (const _ of watcher) batches++;
        return batches;
      })();
      // A paused member holds the read: it is in flight when the signal aborts.
      await etcd.pause();
      const inFlight = client.get("signal/k");
      controller.abort();
      await assert.rejects(inFlight, (error: unknown) => EtcdError.is(error, "closed"));
      assert.equal(await watched, 0, "the watch ended without an error");
      await assert.rejects(client.get("signal/k"), (error: unknown) => EtcdError.is(error, "closed"));
      assert.equal(closedEvents, 1);
    } finally {
      etcd.resume();
      await client.close();
    }
    assert.equal(closedEvents, 1, "close() after the abort closes nothing twice");
  });

  it("holds one listener on a shared signal however many clients use it, and none after close()", async () => {
    const controller = new AbortController();
    const first = createClient({ endpoints: [etcd.clientUrl], signal: controller.signal });
    const second = createClient({ endpoints: [etcd.clientUrl], signal: controller.signal });
    // An application's shutdown signal passed to many clients: no MaxListenersExceededWarning.
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    await first.put("signal/shared", "v");
    await first.close();
    // The second client still listens, through the same one listener.
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    // Aborting later closes only the client still open; the closed one stays as it was.
    controller.abort();
    await assert.rejects(second.get("signal/shared"), (error: unknown) => EtcdError.is(error, "closed"));
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
    await second.close();
  });

  it("refuses a signal that is already aborted, as Go's New refuses a cancelled context", () => {
    const reason = new Error("shutting down");
    assert.throws(
      () => createClient({ endpoints: [etcd.clientUrl], signal: AbortSignal.abort(reason) }),
      (error: unknown) => {
        assert.ok(EtcdError.is(error, "canceled"), String(error));
        assert.match(error.message, /already aborted/);
        assert.equal(error.cause, reason);
        return true;
      },
    );
  });
});
