import type { RangeResponse } from "@etcd-connect/api/etcdserverpb";
import type { Bytes } from "../bytes.js";
import { keyRange } from "../key-range.js";
import type { MirrorSource } from "./mirror.js";

/** Options of {@link listPages}. */
export interface ListOptions {
  /** Keys per page. */
  readonly pageSize: number;
  /** Cancels the page being read. */
  readonly signal: AbortSignal;
}

/**
 * The keys under `prefix`, one Range of `pageSize` keys at a time, every page at the revision
 * of the first, so writes made meanwhile do not tear the list. The first page asks for the
 * prefix as such, so a namespace maps it to its own range; the next ones go on from the key
 * after the last one read (the last key plus a zero byte) to the same range end.
 */
export async function* listPages(
  source: MirrorSource,
  prefix: Bytes,
  options: ListOptions,
): AsyncGenerator<RangeResponse> {
  const { rangeEnd } = keyRange(prefix, { prefix: true });
  const { pageSize, signal } = options;
  let page = await source.get(prefix, { prefix: true, limit: pageSize, signal });
  const revision = page.header?.revision ?? 0n;
  for (;;) {
    yield page;
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || last === undefined) return;
    const next = new Uint8Array(last.key.length + 1);
    next.set(last.key);
    page = await source.get(next, { rangeEnd, limit: pageSize, revision, signal });
  }
}
