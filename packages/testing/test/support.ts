// Helpers shared by the integration tests: bounded polling and KV calls through etcd's JSON gateway.
import { setTimeout as sleep } from "node:timers/promises";
import { type ClientTls, requestJson } from "@etcd-connect/testing";

/** Retries `probe` every 100 ms until it returns a value other than `undefined`; throws the last failure after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await sleep(100);
  }
}

const b64 = (text: string) => Buffer.from(text).toString("base64");

/** Options for the KV helpers. */
export interface KvOptions {
  tls?: ClientTls | undefined;
  timeoutMs?: number;
  token?: string;
}

/** Puts `key` = `value` through `/v3/kv/put`. */
export async function put(url: string, key: string, value: string, options: KvOptions = {}): Promise<void> {
  await requestJson(`${url}/v3/kv/put`, { ...options, body: { key: b64(key), value: b64(value) } });
}

/** Linearizable read of `key` through `/v3/kv/range`; `undefined` when absent. */
export async function get(url: string, key: string, options: KvOptions = {}): Promise<string | undefined> {
  const answer = (await requestJson(`${url}/v3/kv/range`, { ...options, body: { key: b64(key) } })) as {
    kvs?: { value?: string }[];
  };
  const value = answer.kvs?.[0]?.value;
  return value === undefined ? undefined : Buffer.from(value, "base64").toString();
}

/** Whether a process with this pid exists (zombies count). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
