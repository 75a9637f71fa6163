/**
 * Service discovery on etcd, as Go's `clientv3/naming/endpoints`: register, list and watch a
 * service's endpoints, in the keys and JSON that Go services and Go's gRPC resolver share.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/discovery
 */

export type { Endpoint, EndpointUpdate, JsonValue } from "./endpoint.js";
export { decodeEndpoint, encodeEndpoint, maxMetadataDepth } from "./endpoint-json.js";
export type { AddEndpointOptions, EndpointManager, EndpointManagerOptions } from "./endpoint-manager.js";
export { createEndpointManager } from "./endpoint-manager.js";
export type { EndpointSnapshot, WatchEndpointsOptions } from "./endpoint-watch.js";
export type { RegisterOptions, Registration } from "./registration.js";
export { defaultRegistrationTtl } from "./registration.js";
