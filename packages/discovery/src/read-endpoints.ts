import {
  bytesToText,
  type CallOptions,
  type ClientLogger,
  type EtcdApi,
  EtcdError,
  getAll,
  type KeyValue,
} from "@etcd-connect/client";
import type { Endpoint } from "./endpoint.js";
import { decodeEndpoint } from "./endpoint-json.js";

/** An endpoint with the stored bytes it was read from: equal bytes, no change. */
export interface StoredEndpoint {
  readonly endpoint: Endpoint;
  readonly value: Uint8Array;
}

/** A target's endpoints at one revision, by key. */
export interface EndpointRead {
  readonly entries: Map<string, StoredEndpoint>;
  readonly revision: bigint;
}

/** Keys per page of a read: a target of thousands of endpoints stays under the message limits. */
export const readPageSize = 1000;

// A compaction that lands between the pages of one read fails the later page; the read starts
// over at the new revision. Twice in a row would take a compaction schedule of seconds.
const maxReadAttempts = 3;

/** A key-value as a stored endpoint, or undefined (with a warning) when Go would skip it too. */
export function storedEndpoint(
  kv: KeyValue,
  target: string,
  logger: ClientLogger | undefined,
): StoredEndpoint | undefined {
  const endpoint = decodeEndpoint(kv.value);
  if (endpoint === undefined) {
    logger?.warn?.("discovery: skipped a value that is not an endpoint in Go's JSON format", {
      target,
      key: bytesToText(kv.key),
    });
    return undefined;
  }
  return { endpoint, value: kv.value };
}

/**
 * Every endpoint under `prefix`, all pages at the revision of the first: a consistent set to
 * start a watch after. Linearizable, unlike Go's serializable `List`: a member cut off from the
 * others cannot hand out a stale set.
 */
export async function readEndpoints(
  client: EtcdApi,
  prefix: string,
  target: string,
  logger: ClientLogger | undefined,
  call: CallOptions,
): Promise<EndpointRead> {
  for (let attempt = 1; ; attempt++) {
    const entries = new Map<string, StoredEndpoint>();
    let revision = 0n;
    try {
      for await (const page of getAll(client, prefix, { ...call, pageSize: readPageSize })) {
        if (revision === 0n) revision = page.header?.revision ?? 0n;
        for (const kv of page.kvs) {
          const stored = storedEndpoint(kv, target, logger);
          if (stored !== undefined) entries.set(bytesToText(kv.key), stored);
        }
      }
      return { entries, revision };
    } catch (error) {
      if (!EtcdError.is(error, "compacted") || attempt >= maxReadAttempts) throw error;
    }
  }
}
