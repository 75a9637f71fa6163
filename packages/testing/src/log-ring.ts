import { appendFileSync } from "node:fs";

/** Keeps the last `capacity` lines of a process's output, and optionally appends every line to a file. */
export class LogRing {
  readonly #capacity: number;
  readonly #file: string | undefined;
  readonly #lines: string[] = [];
  #partial = "";

  constructor(capacity: number, file?: string) {
    this.#capacity = capacity;
    this.#file = file;
  }

  /** Adds raw output; an unfinished last line waits for the rest. */
  push(chunk: string): void {
    if (this.#file !== undefined) {
      // Synchronous on purpose: the log must be complete even when the test process dies right after.
      appendFileSync(this.#file, chunk);
    }
    const parts = (this.#partial + chunk).split("\n");
    this.#partial = parts.pop() ?? "";
    for (const line of parts) this.#add(line);
  }

  /** Notes an event of our own (start, stop, signals) between etcd's lines. */
  note(message: string): void {
    const line = `[etcd-connect/testing] ${new Date().toISOString()} ${message}`;
    if (this.#file !== undefined) appendFileSync(this.#file, `${line}\n`);
    this.#add(line);
  }

  /** The last `lines` lines (all kept lines by default), newest last. */
  tail(lines = this.#capacity): string {
    const kept = this.#partial === "" ? this.#lines : [...this.#lines, this.#partial];
    return kept.slice(-lines).join("\n");
  }

  #add(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.splice(0, this.#lines.length - this.#capacity);
  }
}
