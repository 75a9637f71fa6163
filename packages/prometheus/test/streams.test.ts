import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Interceptor } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { type Client, createClient } from "@etcd-connect/client";
import { createClientMetrics } from "@etcd-connect/prometheus";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { Registry } from "prom-client";
import { metricValue } from "./metric-values.js";

type RequestOf<F extends (...args: never[]) => unknown> =
  Parameters<F>[0] extends AsyncIterable<infer T> ? T : never;
type WatchRequestInit = RequestOf<Client["rpc"]["watch"]["watch"]>;
type KeepAliveRequestInit = RequestOf<Client["rpc"]["lease"]["leaseKeepAlive"]>;

const watchLabels = { grpc_type: "bidi_stream", grpc_service: "etcdserverpb.Watch", grpc_method: "Watch" };
const keepAliveLabels = {
  grpc_type: "bidi_stream",
  grpc_service: "etcdserverpb.Lease",
  grpc_method: "LeaseKeepAlive",
};

describe("streams against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.close());

  function setup(outer: Interceptor[] = []) {
    const registry = new Registry();
    const metrics = createClientMetrics({ registry, handlingTimeHistogram: true, streamHistograms: true });
    const client = createClient({
      endpoints: [etcd.clientUrl],
      interceptors: [...outer, metrics.interceptor],
    });
    const value = (name: string, labels: Record<string, string>, part?: "count") =>
      metricValue(registry, `grpc_client_${name}`, labels, part);
    return { client, value };
  }

  it("a watch with N events: messages counted as they arrive, handled once as Canceled when aborted", async () => {
    const { client, value } = setup();
    await using _ = client;
    const events = 5;
    const abort = new AbortController();
    const requests = createWritableIterable<WatchRequestInit>();
    const responses = client.rpc.watch.watch(requests, { signal: abort.signal })[Symbol.asyncIterator]();
    try {
      await requests.write({
        requestUnion: { case: "createRequest", value: { key: new TextEncoder().encode("watched") } },
      });
      const created = await responses.next();
      assert.equal(created.value?.created, true);
      assert.equal(await value("started_total", watchLabels), 1);
      assert.equal(await value("msg_received_total", watchLabels), 1);
      for (let n = 1; n <= events; n++) {
        await client.put("watched", String(n));
        const res = await responses.next();
        assert.equal(res.value?.events.length, 1);
        // Counted while the stream is open, one by one: nothing waits for its end.
        assert.equal(await value("msg_received_total", watchLabels), 1 + n);
        assert.equal(await value("handled_total", watchLabels), 0);
      }
      const pending = responses.next();
      abort.abort();
      await assert.rejects(pending);
    } finally {
      abort.abort();
      requests.close();
    }
    assert.equal(await value("started_total", watchLabels), 1);
    assert.equal(await value("handled_total", watchLabels), 1);
    assert.equal(await value("handled_total", { ...watchLabels, grpc_code: "Canceled" }), 1);
    assert.equal(await value("msg_received_total", watchLabels), 1 + events);
    assert.equal(await value("msg_sent_total", watchLabels), 1);
    assert.equal(await value("handling_seconds", watchLabels, "count"), 1);
    assert.equal(await value("msg_send_handling_seconds", watchLabels, "count"), 1);
    // Every read is observed, the failed last one included, as go-grpc-prometheus does.
    assert.equal(await value("msg_recv_handling_seconds", watchLabels, "count"), 1 + events + 1);
    // The puts that fed the watch are counted as their own unary calls.
    const put = { grpc_type: "unary", grpc_service: "etcdserverpb.KV", grpc_method: "Put" };
    assert.equal(await value("handled_total", { ...put, grpc_code: "OK" }), events);
  });

  it("a lease keepalive stream: N requests and answers, handled OK when it ends", async () => {
    const { client, value } = setup();
    await using _ = client;
    const rounds = 4;
    const lease = await client.rpc.lease.leaseGrant({ TTL: 5n });
    const abort = new AbortController();
    const requests = createWritableIterable<KeepAliveRequestInit>();
    const responses = client.rpc.lease
      .leaseKeepAlive(requests, { signal: abort.signal })
      [Symbol.asyncIterator]();
    try {
      for (let n = 1; n <= rounds; n++) {
        await requests.write({ ID: lease.ID });
        const res = await responses.next();
        assert.equal(res.value?.ID, lease.ID);
        assert.equal(await value("msg_received_total", keepAliveLabels), n);
      }
      // Half-closing makes etcd end the stream with OK.
      requests.close();
      assert.equal((await responses.next()).done, true);
    } finally {
      abort.abort();
      requests.close();
    }
    assert.equal(await value("started_total", keepAliveLabels), 1);
    assert.equal(await value("handled_total", keepAliveLabels), 1);
    assert.equal(await value("handled_total", { ...keepAliveLabels, grpc_code: "OK" }), 1);
    assert.equal(await value("msg_sent_total", keepAliveLabels), rounds);
    assert.equal(await value("msg_received_total", keepAliveLabels), rounds);
    assert.equal(await value("msg_send_handling_seconds", keepAliveLabels, "count"), rounds);
    assert.equal(await value("msg_recv_handling_seconds", keepAliveLabels, "count"), rounds + 1);
    assert.equal(await value("handling_seconds", keepAliveLabels, "count"), 1);
    const grant = { grpc_type: "unary", grpc_service: "etcdserverpb.Lease", grpc_method: "LeaseGrant" };
    assert.equal(await value("handled_total", { ...grant, grpc_code: "OK" }), 1);
  });

  it("a stream cut short by its deadline is handled once, as DeadlineExceeded", async () => {
    const { client, value } = setup();
    await using _ = client;
    const abort = new AbortController();
    const requests = createWritableIterable<WatchRequestInit>();
    try {
      // A watch never ends by itself, so whatever the timing its call ends at the deadline.
      const responses = client.rpc.watch.watch(requests, { signal: abort.signal, timeoutMs: 1 });
      const key = new TextEncoder().encode("never-written");
      requests.write({ requestUnion: { case: "createRequest", value: { key } } }).catch(() => {});
      await assert.rejects(async () => {
        for await (const _res of responses);
      });
    } finally {
      abort.abort();
      requests.close();
    }
    assert.equal(await value("started_total", watchLabels), 1);
    assert.equal(await value("handled_total", watchLabels), 1);
    assert.equal(await value("handled_total", { ...watchLabels, grpc_code: "DeadlineExceeded" }), 1);
  });

  it("a reader that stops early (return on the stream) is handled once, as Canceled", async () => {
    // An interceptor outside ours that passes on only the first response, then stops reading.
    const firstOnly: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      const first = async function* () {
        for await (const message of res.message) {
          yield message;
          return;
        }
      };
      return { ...res, message: first() };
    };
    const { client, value } = setup([firstOnly]);
    await using _ = client;
    const abort = new AbortController();
    const requests = createWritableIterable<WatchRequestInit>();
    try {
      const responses = client.rpc.watch.watch(requests, { signal: abort.signal })[Symbol.asyncIterator]();
      await requests.write({
        requestUnion: { case: "createRequest", value: { key: new TextEncoder().encode("stopped") } },
      });
      assert.equal((await responses.next()).value?.created, true);
      assert.equal((await responses.next()).done, true);
      assert.equal(await value("handled_total", { ...watchLabels, grpc_code: "Canceled" }), 1);
    } finally {
      abort.abort();
      requests.close();
    }
    assert.equal(await value("started_total", watchLabels), 1);
    assert.equal(await value("handled_total", watchLabels), 1);
    assert.equal(await value("msg_received_total", watchLabels), 1);
  });
});
