import type { Int64Like } from "@etcd-connect/client";

/**
 * A JSON value: what an endpoint's metadata may hold. Go reads it into an `interface{}`, so
 * numbers are float64 on both sides. `undefined` properties are left out, as `JSON.stringify`
 * does.
 */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/**
 * One address a service can be reached at, as Go's `endpoints.Endpoint`. Stored as Go's JSON
 * (`{"Op":0,"Addr":...,"Metadata":...}`), so Go's manager and gRPC resolver read it.
 */
export interface Endpoint {
  /** The address clients connect to, e.g. `"10.0.0.7:8080"` (Go's `Addr`). */
  readonly addr: string;
  /**
   * Whatever else clients should know (Go's `Metadata`), e.g. a weight or a zone. Omitted on
   * write it is stored as JSON `null`; endpoints read back always have it (`null` when none).
   * Read back it is frozen: snapshots share it.
   */
  readonly metadata?: JsonValue;
}

/**
 * One edit of a target's endpoints, as Go's `endpoints.Update`: `add` (which also replaces)
 * or `delete`. {@link EndpointManager.update} applies a list of them in one transaction; an
 * {@link EndpointSnapshot} lists what changed since the previous one.
 */
export type EndpointUpdate =
  | {
      /** Put the endpoint under `key`, replacing what was there. */
      readonly op: "add";
      /** The full key, `<target>/<name>`. */
      readonly key: string;
      /** The endpoint stored (read back: with `metadata` always set). */
      readonly endpoint: Endpoint;
      /** Attach the key to this lease (Go's `clientv3.WithLease`); only on updates you send. */
      readonly lease?: Int64Like;
    }
  | {
      /** Remove the endpoint under `key`. */
      readonly op: "delete";
      /** The full key, `<target>/<name>`. */
      readonly key: string;
    };
