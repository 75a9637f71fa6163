// Shared pieces of the integration tests.

import { bytesToText, type Event, EventType, type KeyValue, type Watcher } from "@etcd-connect/client";
import type { EtcdMember } from "@etcd-connect/testing";

/** The keys of key-values as text, in order. */
export function keysOf(kvs: readonly KeyValue[]): string[] {
  return kvs.map((kv) => bytesToText(kv.key));
}

/** `key=value` of key-values, in order. */
export function entriesOf(kvs: readonly KeyValue[]): string[] {
  return kvs.map((kv) => `${bytesToText(kv.key)}=${bytesToText(kv.value)}`);
}

/** An event as `put key=value` or `delete key`, with ` (prev key=value)` when etcd sent it. */
export function describeEvent(event: Event): string {
  const kv = event.kv;
  const what =
    event.type === EventType.PUT
      ? `put ${bytesToText(kv?.key ?? new Uint8Array())}=${bytesToText(kv?.value ?? new Uint8Array())}`
      : `delete ${bytesToText(kv?.key ?? new Uint8Array())}`;
  const prev = event.prevKv;
  return prev === undefined ? what : `${what} (prev ${bytesToText(prev.key)}=${bytesToText(prev.value)})`;
}

/**
 * Reads a watcher until an event on `lastKey` arrives; returns every event described. Tests
 * write `lastKey` last, so whatever else the watch would wrongly deliver came before it.
 */
export async function eventsUntil(watcher: Watcher, lastKey: string): Promise<string[]> {
  const seen: string[] = [];
  for await (const batch of watcher) {
    for (const event of batch.events) {
      seen.push(describeEvent(event));
      if (bytesToText(event.kv?.key ?? new Uint8Array()) === lastKey) return seen;
    }
  }
  return seen;
}

/** A gauge from a member's /metrics (summed over label sets). */
export async function metric(member: EtcdMember, name: string): Promise<number> {
  const body = await (await fetch(`${member.directClientUrl}/metrics`)).text();
  let total = 0;
  for (const line of body.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.split(" ").pop());
  }
  return total;
}

/** Polls until `check` holds: for state etcd updates in the background, such as its metrics. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Bytes from numbers and text pieces, for binary keys. */
export function bytes(...parts: Array<number | string>): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") out.push(part);
    else out.push(...new TextEncoder().encode(part));
  }
  return new Uint8Array(out);
}
