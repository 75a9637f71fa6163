// The runtime checks shared by smoke.mjs (which loads the packages with `import`) and smoke.cjs
// (with `require`). The entry files load the packages in their own module system and pass them in,
// so the same calls run against whichever build Node picked for that system.

const utf8 = new TextEncoder();
const text = new TextDecoder();

function expectEqual(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

async function runChecks({ format, endpoint, resolveEntry, loadOtherClient, packages }) {
  const {
    api,
    client,
    concurrency,
    connect,
    discovery,
    mvccpb,
    namespace,
    prometheus,
    promClient,
    testing,
    transport,
  } = packages;
  const prefix = `pack-test/${format}/`;
  let failures = 0;

  async function check(name, fn) {
    try {
      await fn();
      console.log(`ok   [${format}] ${name}`);
    } catch (error) {
      failures++;
      console.log(`FAIL [${format}] ${name}: ${error instanceof Error ? error.stack : String(error)}`);
    }
  }

  // Node 20 can require() an ES module, so a require that works proves nothing by itself: the
  // path tells which build the export conditions picked.
  await check(`every package resolves to dist/${format}`, () => {
    const names = [
      "@etcd-connect/api/etcdserverpb",
      "@etcd-connect/client",
      "@etcd-connect/concurrency",
      "@etcd-connect/discovery",
      "@etcd-connect/namespace",
      "@etcd-connect/prometheus",
      "@etcd-connect/testing",
      "@etcd-connect/transport",
    ];
    for (const name of names) {
      const file = resolveEntry(name).replaceAll("\\", "/");
      if (!file.includes(`/dist/${format}/`)) throw new Error(`${name} resolved to ${file}`);
    }
  });

  await check("@etcd-connect/api: schemas", () => {
    expectEqual(api.PutRequestSchema.typeName, "etcdserverpb.PutRequest", "PutRequestSchema.typeName");
    expectEqual(api.KV.typeName, "etcdserverpb.KV", "KV.typeName");
    expectEqual(mvccpb.KeyValueSchema.typeName, "mvccpb.KeyValue", "KeyValueSchema.typeName");
  });

  // An app that both imports and requires the client holds two copies of it; an error from one
  // must still be an EtcdError to the other (the class brands itself with Symbol.for).
  await check("@etcd-connect/client: EtcdError instanceof across the ESM and CJS copies", async () => {
    const other = await loadOtherClient();
    if (other.EtcdError === client.EtcdError) throw new Error("both formats loaded the same copy");
    if (!(other.toEtcdError(new Error("boom")) instanceof client.EtcdError))
      throw new Error("not an EtcdError");
    if (!(client.toEtcdError(new Error("boom")) instanceof other.EtcdError))
      throw new Error("not an EtcdError");
  });

  await check("@etcd-connect/testing: freePort", async () => {
    const port = await testing.freePort();
    if (!Number.isInteger(port) || port <= 0) throw new Error(`freePort returned ${port}`);
  });

  await check("@etcd-connect/transport: createGrpcTransport, KV put and range", async () => {
    const grpc = transport.createGrpcTransport({ baseUrl: endpoint });
    try {
      const kv = connect.createClient(api.KV, grpc);
      const key = utf8.encode(`${prefix}transport`);
      await kv.put({ key, value: utf8.encode("over the transport") });
      const res = await kv.range({ key });
      expectEqual(text.decode(res.kvs[0]?.value), "over the transport", "range value");
    } finally {
      grpc.close();
    }
  });

  const etcd = client.createClient({ endpoints: [endpoint] });
  try {
    await check("@etcd-connect/client: put and getText", async () => {
      await etcd.put(`${prefix}client`, "from the client");
      expectEqual(await etcd.getText(`${prefix}client`), "from the client", "getText");
    });

    await check("@etcd-connect/namespace: namespaced put and getText", async () => {
      const tenant = namespace.namespace(etcd, `${prefix}tenant/`);
      await tenant.put("k", "namespaced");
      expectEqual(await tenant.getText("k"), "namespaced", "namespaced getText");
      expectEqual(await etcd.getText(`${prefix}tenant/k`), "namespaced", "the prefixed key");
    });

    await check("@etcd-connect/concurrency: session, mutex lock and unlock", async () => {
      const session = await concurrency.createSession(etcd, { ttl: 10 });
      try {
        const mutex = concurrency.createMutex(session, `${prefix}lock`);
        await mutex.lock();
        await mutex.unlock();
      } finally {
        await session.close();
      }
    });

    await check("@etcd-connect/discovery: add and list an endpoint in Go's layout", async () => {
      const manager = discovery.createEndpointManager(etcd, `${prefix}svc`);
      await manager.add(`${prefix}svc/a`, { addr: "10.0.0.1:80" });
      expectEqual(
        await etcd.getText(`${prefix}svc/a`),
        '{"Op":0,"Addr":"10.0.0.1:80","Metadata":null}',
        "Go's JSON",
      );
      expectEqual((await manager.list()).get(`${prefix}svc/a`)?.addr, "10.0.0.1:80", "the listed address");
    });
  } finally {
    await etcd.close();
  }

  await check("@etcd-connect/prometheus: createClientMetrics, one call, registry text", async () => {
    const registry = new promClient.Registry();
    const metrics = prometheus.createClientMetrics({ registry });
    const metered = client.createClient({
      endpoints: [endpoint],
      interceptors: [metrics.interceptor],
      observer: metrics.observer,
    });
    try {
      await metered.put(`${prefix}metered`, "counted");
    } finally {
      await metered.close();
    }
    const exposition = await registry.metrics();
    const handled = exposition.split("\n").find((line) => line.startsWith("grpc_client_handled_total{"));
    if (!handled?.includes('grpc_method="Put"')) throw new Error(`no handled Put in:\n${exposition}`);
  });

  return failures;
}

module.exports = { runChecks };
