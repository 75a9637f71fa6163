// The harness of the adversarial suite: one scenario = one raw peer + one client + one call, and
// the same checks every time (the code and bound of the failure, what happened to the stream
// or connection afterwards, memory, event-loop blocking, process warnings). Every problem found
// is collected and reported together with the frames the client sent, so a failing scenario
// says why without a rerun.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import type { TestContext } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Code } from "@connectrpc/connect";
import { type Client, type ClientOptions, createClient, EtcdError } from "@etcd-connect/client";
import { type PeerOptions, type PeerStream, RawPeer, sleep, waitUntil } from "./raw-peer.js";

// A collector the harness can call without starting node with --expose-gc: each scenario's
// memory and event-loop readings then start clean of the previous scenario's garbage.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** A guard against hangs in today's code, not a timing assert. */
export const limits = { timeout: 15_000 };

/**
 * - connection: the client must close the TCP connection (RFC 9113 §5.4.1).
 * - stream: the client must reset the stream (§5.4.2) and keep the connection for other calls.
 * - grpc: the HTTP/2 stream ended normally; the gRPC answer is bad; the connection stays.
 * - healthy: nothing is wrong (or it must be ignored): the call succeeds, the connection stays.
 */
export type Scope = "connection" | "stream" | "grpc" | "healthy";

export interface Expectation {
  scope: Scope;
  /** The Connect code of the EtcdError the call rejects with (any of a list). Unset for healthy. */
  code?: Code | readonly Code[];
  /**
   * The call must fail on evidence, not by waiting out its deadline. The scenario's deadline is
   * then 10 s, far beyond what handling the violation takes, and the error's code (anything but
   * DeadlineExceeded) shows which ended the call: a clock would read load as a failure.
   */
  failsBeforeDeadline?: true;
  /** The peer ended the bad stream itself, so the client owes no RST_STREAM. */
  peerEndsStream?: boolean;
  /** Healthy scenarios that reconnect on purpose set false. Default true. */
  sameConnection?: boolean;
  /** Extra checks of the error message; return a problem, or undefined. */
  message?: (message: string) => string | undefined;
  /** Default 64. */
  rssGrowthMb?: number;
}

export interface Scenario {
  /** Handshake, our SETTINGS, PING answers, what to do on connect. */
  peer?: Omit<PeerOptions, "onStream">;
  /** The misbehaviour, on the target stream. Other streams are answered as etcd would. */
  onStream?: (stream: PeerStream) => void | Promise<void>;
  /** Which streams get onStream. Default: the first stream the client opens. */
  target?: (stream: PeerStream, index: number) => boolean;
  client?: Partial<ClientOptions>;
  /** The call under test. Default: `client.get("k", { timeoutMs: deadlineMs })`. */
  call?: (client: Client, peer: RawPeer) => Promise<unknown>;
  /** Default 2000, or 10,000 when the expectation is `failsBeforeDeadline`. */
  deadlineMs?: number;
  expect: Expectation;
  /** More checks, run after the standard ones while client and peer are still up. */
  check?: (context: { client: Client; peer: RawPeer; error: unknown }) => void | Promise<void>;
}

// C0, DEL and C1: anything a terminal or a log line could be driven by.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const controlChars = /[\u0000-\u001f\u007f-\u009f]/;
const maxMessageLength = 2048;

type Outcome =
  | { state: "resolved"; ms: number }
  | { state: "rejected"; error: unknown; ms: number }
  | { state: "pending"; ms: number };

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<Outcome> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<"pending">((resolve) => {
    timer = setTimeout(() => resolve("pending"), ms);
  });
  const result = await Promise.race([
    promise.then(
      () => ({ state: "resolved" as const }),
      (error: unknown) => ({ state: "rejected" as const, error }),
    ),
    pending,
  ]);
  clearTimeout(timer);
  const elapsed = Math.round(performance.now() - started);
  return result === "pending" ? { state: "pending", ms: elapsed } : { ...result, ms: elapsed };
}

const tickMs = 10;

/**
 * RSS, event-loop blocking and process-level trouble over one scenario. A tick late by more than
 * the CPU the event loop's thread used meanwhile was descheduled (a loaded machine), not blocked:
 * a block is counted as the smaller of the two, so only work done on our own loop counts against
 * it. The whole process's CPU would also count V8's helper threads (concurrent marking, the
 * optimizing compiler), which run while the loop's thread waits for a core: a CI run on a loaded
 * machine once read 127 ms that way.
 */
class Monitor {
  readonly rssStart: number;
  private rssMax: number;
  private readonly sampler: NodeJS.Timeout;
  private lastTick = performance.now();
  private lastCpuMs = loopCpuMs();
  private maxBlockMs = 0;
  readonly trouble: string[] = [];
  private readonly onWarning = (warning: Error) =>
    this.trouble.push(`process warning: ${warning.name}: ${warning.message}`);
  private readonly onException = (error: unknown) =>
    this.trouble.push(`uncaught exception: ${String(error)}`);
  private readonly onRejection = (reason: unknown) =>
    this.trouble.push(`unhandled rejection: ${String(reason)}`);

  constructor() {
    gc();
    this.rssStart = process.memoryUsage.rss();
    this.rssMax = this.rssStart;
    this.sampler = setInterval(() => {
      const now = performance.now();
      const cpu = loopCpuMs();
      const late = now - this.lastTick - tickMs;
      this.maxBlockMs = Math.max(this.maxBlockMs, Math.min(late, cpu - this.lastCpuMs));
      this.lastTick = now;
      this.lastCpuMs = cpu;
      this.rssMax = Math.max(this.rssMax, process.memoryUsage.rss());
    }, tickMs);
    process.on("warning", this.onWarning);
    process.on("uncaughtException", this.onException);
    process.on("unhandledRejection", this.onRejection);
  }

  /** Stops; returns the RSS growth (MB) and the longest event-loop block (ms) seen. */
  stop(): { rssGrowthMb: number; maxDelayMs: number } {
    clearInterval(this.sampler);
    this.rssMax = Math.max(this.rssMax, process.memoryUsage.rss());
    process.off("warning", this.onWarning);
    process.off("uncaughtException", this.onException);
    process.off("unhandledRejection", this.onRejection);
    return {
      rssGrowthMb: Math.round((this.rssMax - this.rssStart) / 2 ** 20),
      maxDelayMs: Math.round(this.maxBlockMs),
    };
  }
}

// The event loop's thread is the process's main thread: on Linux its task id is the pid.
const mainThreadStat = `/proc/self/task/${process.pid}/stat`;
const hasMainThreadStat = existsSync(mainThreadStat);

// CPU time of the event loop's thread, in ms (10 ms steps: Linux counts in USER_HZ, 100 a
// second); where /proc is missing, of the whole process.
function loopCpuMs(): number {
  if (!hasMainThreadStat) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
  const stat = readFileSync(mainThreadStat, "latin1");
  // After "pid (comm) ", utime and stime are the 12th and 13th fields.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function codeNames(code: Code | readonly Code[]): string {
  return (Array.isArray(code) ? code : [code]).map((c: Code) => Code[c]).join(" or ");
}

// The first call in a process loads and compiles the client's code: one healthy call first, so
// that cost is not taken for the scenario blocking the event loop.
let warmedUp: Promise<void> | undefined;

function warmUp(): Promise<void> {
  warmedUp ??= (async () => {
    const peer = await RawPeer.start({});
    const client = createClient({ endpoints: [`http://127.0.0.1:${peer.port}`], retry: false });
    try {
      await client.get("k", { timeoutMs: 5000 });
    } finally {
      await client.close();
      await peer.close();
    }
  })();
  return warmedUp;
}

/** Runs one scenario and fails the test with every problem found. */
export async function runScenario(t: TestContext, scenario: Scenario): Promise<void> {
  await warmUp();
  const { expect } = scenario;
  const deadlineMs = scenario.deadlineMs ?? (expect.failsBeforeDeadline ? 10_000 : 2000);
  const targets: PeerStream[] = [];
  let streamIndex = 0;
  const peer = await RawPeer.start({
    ...scenario.peer,
    onStream: (stream) => {
      const isTarget = (scenario.target ?? ((_s, i) => i === 0))(stream, streamIndex++);
      if (!isTarget || scenario.onStream === undefined) return stream.answer();
      targets.push(stream);
      return scenario.onStream(stream);
    },
  });
  // retry: false, so one call is one attempt on one connection. silenceProbeMs is raised above
  // every scenario's length: the probe's PING would otherwise close connections to peers that
  // stop reading, and that close would pass for the client handling the scenario's violation.
  const client = createClient({
    endpoints: [`http://127.0.0.1:${peer.port}`],
    retry: false,
    silenceProbeMs: 10_000,
    ...scenario.client,
  });
  // Also closed below; this covers a throw before the try (both closes are idempotent).
  t.after(async () => {
    await client.close();
    await peer.close();
  });
  const problems: string[] = [];
  const monitor = new Monitor();
  let stopped = false;
  let callPromise: Promise<unknown> | undefined;
  try {
    callPromise = (scenario.call ?? ((c) => c.get("k", { timeoutMs: deadlineMs })))(client, peer);
    callPromise.catch(() => {}); // inspected through settleWithin; a hang is reported, not thrown
    const outcome = await settleWithin(callPromise, deadlineMs + 500);
    let error: unknown;
    if (expect.scope !== "healthy") {
      if (outcome.state === "pending") problems.push(`the call did not settle within ${outcome.ms} ms`);
      else if (outcome.state === "resolved")
        problems.push(`the call succeeded; expected ${codeNames(expect.code ?? [])}`);
      else {
        error = outcome.error;
        problems.push(...checkError(error, expect, outcome.ms));
      }
    } else if (outcome.state !== "resolved") {
      problems.push(
        outcome.state === "pending"
          ? `the call did not settle within ${outcome.ms} ms`
          : `the call failed: ${describeError(outcome.error)}`,
      );
    }
    problems.push(...(await checkAftermath(expect, client, peer, targets)));
    if (scenario.check !== undefined) {
      try {
        await scenario.check({ client, peer, error });
      } catch (failure) {
        problems.push(failure instanceof Error ? failure.message : String(failure));
      }
    }
    const { rssGrowthMb, maxDelayMs } = monitor.stop();
    stopped = true;
    const rssLimit = expect.rssGrowthMb ?? 64;
    if (rssGrowthMb >= rssLimit) problems.push(`RSS grew by ${rssGrowthMb} MB (limit ${rssLimit} MB)`);
    if (maxDelayMs > 100) problems.push(`the event loop was blocked for ${maxDelayMs} ms`);
  } finally {
    if (!stopped) monitor.stop();
    problems.push(...monitor.trouble, ...peer.problems);
    await client.close();
    await peer.close();
  }
  if (problems.length > 0) {
    // The same warning 20 times says no more than once with a count.
    const counted = new Map<string, number>();
    for (const p of problems) counted.set(p, (counted.get(p) ?? 0) + 1);
    problems.splice(0, problems.length, ...[...counted].map(([p, n]) => (n > 1 ? `${p} (x${n})` : p)));
    assert.fail(
      `scenario failed:\n${problems.map((p) => `- ${p}`).join("\n")}\nframes from the client:\n${peer.describe()}`,
    );
  }
}

function describeError(error: unknown): string {
  if (error instanceof EtcdError) {
    return `EtcdError ${Code[error.code] ?? `code ${error.code}`}: ${JSON.stringify(error.message.slice(0, 300))}`;
  }
  return String(error);
}

function checkError(error: unknown, expect: Expectation, ms: number): string[] {
  const problems: string[] = [];
  if (!(error instanceof EtcdError)) return [`the call rejected with a non-EtcdError: ${String(error)}`];
  const wanted = expect.code === undefined ? [] : Array.isArray(expect.code) ? expect.code : [expect.code];
  if (!wanted.includes(error.code)) {
    problems.push(`expected code ${codeNames(wanted)}, got ${describeError(error)}`);
  }
  if (expect.failsBeforeDeadline && error.code === Code.DeadlineExceeded) {
    problems.push(`the call waited out its deadline (${ms} ms); it should have failed on the violation`);
  }
  if (controlChars.test(error.message)) {
    problems.push(`the error message has control characters: ${JSON.stringify(error.message.slice(0, 200))}`);
  }
  if (error.message.length > maxMessageLength) {
    problems.push(`the error message is ${error.message.length} characters (limit ${maxMessageLength})`);
  }
  const extra = expect.message?.(error.message);
  if (extra !== undefined) problems.push(extra);
  return problems;
}

// What must hold after the call: the connection closed, or the stream reset and the connection
// still serving calls.
async function checkAftermath(
  expect: Expectation,
  client: Client,
  peer: RawPeer,
  targets: PeerStream[],
): Promise<string[]> {
  const problems: string[] = [];
  const first = peer.connections[0];
  if (first === undefined) return ["the client never connected"];
  if (expect.scope === "connection") {
    await Promise.race([first.closed, sleep(2000)]);
    if (!first.closedByClient) {
      problems.push(
        first.closedByPeer
          ? "the peer closed first (harness)"
          : "the client did not close the connection within 2 s",
      );
    }
    return problems;
  }
  if (expect.scope === "stream" && !expect.peerEndsStream) {
    for (const stream of targets) {
      const reset = await waitUntil(
        () => stream.resetCode !== undefined || first.closedAt !== undefined,
        1000,
      );
      if (!reset || stream.resetCode === undefined)
        problems.push(`the client sent no RST_STREAM for stream ${stream.id}`);
    }
  }
  if (expect.sameConnection !== false && first.closedAt !== undefined) {
    problems.push(
      `the connection closed (by ${first.closedByPeer ? "the peer" : "the client"}); it should have stayed up`,
    );
  }
  const second = await settleWithin(client.get("k2", { timeoutMs: 2000 }), 2500);
  if (second.state !== "resolved") {
    problems.push(
      `a second call on the client failed: ${second.state === "rejected" ? describeError(second.error) : "no answer within 2.5 s"}`,
    );
  }
  if (expect.sameConnection !== false && peer.connections.length !== 1) {
    problems.push(
      `the peer accepted ${peer.connections.length} connections; the second call should reuse the first`,
    );
  }
  return problems;
}

/**
 * Runs a watch on `client` until `until` resolves, then aborts it: the `for await` loop must end.
 * Errors the watch ends with are fine; a hang is not (5 s: a guard, not a timing assert).
 */
export async function watchThenAbort(client: Client, until: () => Promise<unknown>): Promise<void> {
  const abort = new AbortController();
  const watcher = client.watch("k", { signal: abort.signal });
  let ended = false;
  const loop = (async () => {
    for await (const _batch of watcher) {
      // Batches are not the point: the peer sends none that matter.
    }
  })().finally(() => {
    ended = true;
  });
  loop.catch(() => {});
  await until();
  abort.abort();
  if (!(await waitUntil(() => ended, 5000)))
    throw new Error("the watch loop did not end within 5 s of its abort");
}
