import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, EtcdError } from "@etcd-connect/client";
import { createClientMetrics } from "@etcd-connect/prometheus";
import {
  createFaultProxy,
  type EtcdMember,
  freePort,
  integrationOptions,
  startEtcd,
} from "@etcd-connect/testing";
import { Registry } from "prom-client";
import { kv, metricValue } from "./metric-values.js";

const started = "grpc_client_started_total";
const handled = "grpc_client_handled_total";
const sent = "grpc_client_msg_sent_total";
const received = "grpc_client_msg_received_total";

describe("unary calls against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.close());

  function setup(options: Parameters<typeof createClient>[0] | undefined = undefined) {
    const registry = new Registry();
    const metrics = createClientMetrics({ registry, handlingTimeHistogram: true });
    const client = createClient({
      endpoints: [etcd.clientUrl],
      ...options,
      interceptors: [metrics.interceptor],
    });
    return { registry, client };
  }

  it("counts started, handled (OK), sent and received per method", async () => {
    const { registry, client } = setup();
    await using _ = client;
    for (const n of [1, 2, 3]) await client.put(`unary/${n}`, "v");
    await client.get("unary/1");
    await client.get("unary/", { prefix: true });
    await client.txn().commit();
    await client.delete("unary/3");
    const expected: [string, number][] = [
      ["Put", 3],
      ["Range", 2],
      ["Txn", 1],
      ["DeleteRange", 1],
    ];
    for (const [method, n] of expected) {
      assert.equal(await metricValue(registry, started, kv(method)), n, `started ${method}`);
      assert.equal(
        await metricValue(registry, handled, { ...kv(method), grpc_code: "OK" }),
        n,
        `OK ${method}`,
      );
      assert.equal(await metricValue(registry, sent, kv(method)), n, `sent ${method}`);
      assert.equal(await metricValue(registry, received, kv(method)), n, `received ${method}`);
      assert.equal(await metricValue(registry, "grpc_client_handling_seconds", kv(method), "count"), n);
    }
    // Nothing else ran, and every call was handled exactly once.
    assert.equal(await metricValue(registry, started), 7);
    assert.equal(await metricValue(registry, handled), 7);
  });

  it("counts a failed call once, with its code: a read of a compacted revision is OutOfRange", async () => {
    const { registry, client } = setup();
    await using _ = client;
    const first = await client.put("compacted/key", "1");
    const second = await client.put("compacted/key", "2");
    await client.compact(second.header?.revision ?? 0n);
    await assert.rejects(client.get("compacted/key", { revision: first.header?.revision ?? 0n }), (error) =>
      EtcdError.is(error, "compacted"),
    );
    assert.equal(await metricValue(registry, started, kv("Range")), 1);
    assert.equal(await metricValue(registry, handled, kv("Range")), 1);
    assert.equal(await metricValue(registry, handled, { ...kv("Range"), grpc_code: "OutOfRange" }), 1);
    assert.equal(await metricValue(registry, sent, kv("Range")), 1);
    assert.equal(await metricValue(registry, received, kv("Range")), 0);
    assert.equal(await metricValue(registry, handled, { ...kv("Compact"), grpc_code: "OK" }), 1);
  });

  it("a caller's abort is Canceled", async () => {
    const { registry, client } = setup();
    await using _ = client;
    await assert.rejects(client.get("aborted", { signal: AbortSignal.abort() }));
    assert.equal(await metricValue(registry, started, kv("Range")), 1);
    assert.equal(await metricValue(registry, handled, { ...kv("Range"), grpc_code: "Canceled" }), 1);
    assert.equal(await metricValue(registry, handled), 1);
  });

  it("a passed deadline is DeadlineExceeded", async () => {
    const port = Number(new URL(etcd.clientUrl).port);
    const proxy = await createFaultProxy({ target: { host: "127.0.0.1", port } });
    try {
      proxy.blackhole();
      const { registry, client } = setup({ endpoints: [`http://127.0.0.1:${proxy.port}`] });
      await using _ = client;
      await assert.rejects(client.get("late", { timeoutMs: 300 }), (error) =>
        EtcdError.is(error, "deadline_exceeded"),
      );
      assert.equal(await metricValue(registry, started, kv("Range")), 1);
      assert.equal(
        await metricValue(registry, handled, { ...kv("Range"), grpc_code: "DeadlineExceeded" }),
        1,
      );
      assert.equal(await metricValue(registry, handled), 1);
    } finally {
      await proxy.close();
    }
  });

  it("counts calls, not attempts: a read retried past a dead endpoint is 1 started and 1 handled OK", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const failedOn: unknown[] = [];
    const { registry, client } = setup({
      endpoints: [dead, etcd.clientUrl],
      balancer: "pinned",
      logger: { warn: (_message, fields) => failedOn.push(fields?.endpoint) },
    });
    await using _ = client;
    await client.get("retried");
    assert.deepEqual(failedOn, [dead], "the first attempt went to the dead endpoint and was retried");
    assert.equal(await metricValue(registry, started, kv("Range")), 1);
    assert.equal(await metricValue(registry, handled, { ...kv("Range"), grpc_code: "OK" }), 1);
    assert.equal(await metricValue(registry, handled), 1);
    assert.equal(await metricValue(registry, sent, kv("Range")), 1);
    assert.equal(await metricValue(registry, received, kv("Range")), 1);
  });

  it("two clients with their own metrics on one registry add up", async () => {
    const registry = new Registry();
    const clients = [1, 2].map(() =>
      createClient({
        endpoints: [etcd.clientUrl],
        interceptors: [createClientMetrics({ registry }).interceptor],
      }),
    );
    try {
      for (const client of clients) await client.put("shared", "v");
      assert.equal(await metricValue(registry, started, kv("Put")), 2);
      assert.equal(await metricValue(registry, handled, { ...kv("Put"), grpc_code: "OK" }), 2);
    } finally {
      for (const client of clients) await client.close();
    }
  });
});
