// A small app using every package, compiled (not run) by pack-test.mjs as app.mts and app.cts under
// module nodenext, and as a .ts file under module commonjs, which implies node10 resolution (what
// NestJS's default tsconfig uses). No top-level await, so the same text is valid in every setting.
import { createClient as createConnectClient } from "@connectrpc/connect";
import { type PutResponse as ApiPutResponse, KV, PutRequestSchema } from "@etcd-connect/api/etcdserverpb";
import type { KeyValue } from "@etcd-connect/api/mvccpb";
import { type Client, createClient, EtcdError, type PutResponse } from "@etcd-connect/client";
import { createMutex, createSession, type Session } from "@etcd-connect/concurrency";
import { namespace } from "@etcd-connect/namespace";
import { type ClientMetrics, createClientMetrics } from "@etcd-connect/prometheus";
import { freePort } from "@etcd-connect/testing";
import { createGrpcTransport } from "@etcd-connect/transport";
import { Registry } from "prom-client";

// Types that fail to resolve can turn into `any` without a word; these fail to compile if any did.
type IsAny<T> = 0 extends 1 & T ? true : false;
export const typesResolved: [
  IsAny<typeof createClient>,
  IsAny<typeof KV>,
  IsAny<KeyValue>,
  IsAny<typeof createSession>,
  IsAny<typeof namespace>,
  IsAny<ClientMetrics>,
  IsAny<typeof freePort>,
  IsAny<typeof createGrpcTransport>,
] = [false, false, false, false, false, false, false, false];

export async function main(endpoint: string): Promise<string> {
  const port: number = await freePort();

  const transport = createGrpcTransport({ baseUrl: endpoint });
  const kv = createConnectClient(KV, transport);
  const raw: ApiPutResponse = await kv.put({ key: new TextEncoder().encode("k"), value: new Uint8Array() });
  transport.close();

  const metrics: ClientMetrics = createClientMetrics({ registry: new Registry() });
  const client: Client = createClient({ endpoints: [endpoint], interceptors: [metrics.interceptor] });
  try {
    const put: PutResponse = await client.put("k", "v");
    const revision: bigint | undefined = put.header?.revision;
    const kvs: KeyValue[] = (await client.get("k")).kvs;
    const tenant = namespace(client, "tenant/");
    const value: string | undefined = await tenant.getText("k");

    const session: Session = await createSession(client, { ttl: 10 });
    const mutex = createMutex(session, "lock");
    await mutex.lock();
    await mutex.unlock();
    await session.close();
    return [port, raw.header?.revision, revision, kvs.length, value, PutRequestSchema.typeName].join(" ");
  } catch (error) {
    return error instanceof EtcdError ? error.reason : String(error);
  } finally {
    await client.close();
  }
}
