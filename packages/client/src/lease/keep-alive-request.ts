import type { LeaseKeepAliveRequest } from "@etcd-connect/api/etcdserverpb";

/**
 * A keepalive request, built as a literal rather than with create(): protobuf-es walks the schema
 * on every create(), and a client may keep 100,000 leases (one request each, built once).
 * keep-alive-request.test.ts holds it equal to what create() builds.
 */
export function keepAliveRequest(ID: bigint): LeaseKeepAliveRequest {
  return { $typeName: "etcdserverpb.LeaseKeepAliveRequest", ID };
}
