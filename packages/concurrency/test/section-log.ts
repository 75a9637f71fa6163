import { appendFileSync, readFileSync } from "node:fs";
import type { EtcdApi } from "@etcd-connect/client";
import { deletedAt, type LineProcess, nextEvent, waitForKeys } from "./helpers.js";

/**
 * One line of the log that processes contending for a lock append to (O_APPEND keeps the
 * order in which they wrote, real time): a critical section's enter (with the revision the
 * lock was confirmed at) and exit, a violation a reader saw, or a kill by the test.
 */
export interface SectionRecord {
  id: string;
  event: "enter" | "exit" | "violation" | "kill";
  mode?: "read" | "write";
  rev?: string;
  what?: string;
}

export function readSections(file: string): SectionRecord[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as SectionRecord);
}

/**
 * Walks the log in order and names every critical section that overlapped one it must not: a
 * writer with anyone, a reader with a writer. A killed process's section ends at its "kill".
 */
export function overlaps(records: SectionRecord[]): { problems: string[]; maxReaders: number } {
  const problems: string[] = [];
  const readers = new Set<string>();
  let writer: string | undefined;
  let maxReaders = 0;
  for (const r of records) {
    if (r.event === "violation") problems.push(`${r.id}: ${r.what}`);
    if (r.event === "enter") {
      if (writer !== undefined) problems.push(`${r.id} entered to ${r.mode} while ${writer} wrote`);
      if (r.mode === "write" && readers.size > 0) {
        problems.push(`${r.id} entered to write while ${[...readers].join(", ")} read`);
      }
      if (r.mode === "write") writer = r.id;
      else readers.add(r.id);
      maxReaders = Math.max(maxReaders, readers.size);
    }
    if (r.event === "exit" || r.event === "kill") {
      if (writer === r.id) writer = undefined;
      readers.delete(r.id);
    }
  }
  return { problems, maxReaders };
}

/**
 * With every worker booted (started with `gate: 1`): lets the victim take the lock, then the
 * others queue behind it; once all are queued under `prefix`, logs the kill and SIGKILLs the
 * victim. Resolves with the revision its lease expiry deleted its key at.
 */
export async function killHolderWhileQueued(
  client: EtcdApi,
  victim: LineProcess,
  others: LineProcess[],
  prefix: string,
  log: string,
): Promise<bigint> {
  for (const worker of [victim, ...others]) await nextEvent(worker, "booted");
  victim.send("go");
  const holding = await nextEvent<{ event: string; key: string; revision: string }>(victim, "holding");
  for (const worker of others) worker.send("go");
  await waitForKeys(client, prefix, 1 + others.length);
  // Logged before the kill: whatever anyone logs after it comes after the victim's section.
  appendFileSync(log, `${JSON.stringify({ id: "victim", event: "kill" })}\n`);
  await victim.kill();
  return deletedAt(client, holding.key, BigInt(holding.revision));
}
