// The metrics example scraped by a real Prometheus: the target comes up, promtool accepts the
// exposition text, and every query of the bundled Grafana dashboard parses and returns data.
//
// Needs etcd and Prometheus (Debian: apt-get install etcd-server prometheus). Without Prometheus
// the suite is skipped, unless ETCD_REQUIRED=1 (as in CI), where it fails instead.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { freePort, integrationOptions, startEtcd } from "@etcd-connect/testing";

const prometheusBin = "/usr/bin/prometheus";
const promtoolBin = "/usr/bin/promtool";
const dashboardFile = join(
  import.meta.dirname,
  "..",
  "..",
  "packages",
  "prometheus",
  "dashboards",
  "etcd-connect.json",
);
const jobName = "etcd-connect-example";
/** Bound of every wait (start, first scrapes, queries): generous, for a loaded machine. */
const waitMs = 90_000;
/** Bound of a process's clean exit after SIGTERM, before SIGKILL. */
const stopMs = 15_000;

/**
 * Grafana's variables, made concrete. `$__rate_interval` is at least four scrape intervals in
 * Grafana; a minute covers plenty of 1 s scrapes. `$job` is a regex (`job=~"$job"`): our job.
 */
const grafanaVariables: Record<string, string> = {
  __rate_interval: "1m",
  __interval: "15s",
  interval: "15s",
  __range: "1m",
  job: jobName,
};

function missingPrometheus(): string | undefined {
  const missing = [prometheusBin, promtoolBin].filter((bin) => {
    try {
      accessSync(bin, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return undefined;
  return `${missing.join(" and ")} not found. Install Prometheus (Debian/Ubuntu: apt-get install prometheus) to get it.`;
}

/** Skips when etcd is missing (integrationOptions) or Prometheus is, unless ETCD_REQUIRED=1. */
function suiteOptions(): { skip?: string } {
  const etcd = integrationOptions();
  if (etcd.skip !== undefined) return etcd;
  const missing = missingPrometheus();
  // Required: not skipped; `before` fails with the same message.
  if (missing === undefined || process.env.ETCD_REQUIRED === "1") return {};
  return { skip: missing };
}

/** Every PromQL `expr` in the dashboard, wherever it is nested, with the panel it belongs to. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const visit = (node: unknown, panel: string) => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, panel);
    } else if (node !== null && typeof node === "object") {
      const record = node as Record<string, unknown>;
      const title = typeof record.title === "string" ? record.title : panel;
      for (const [key, value] of Object.entries(record)) {
        if (key === "expr" && typeof value === "string") out.push({ panel: title, expr: value });
        else visit(value, title);
      }
    }
  };
  visit(JSON.parse(readFileSync(dashboardFile, "utf8")), "dashboard");
  return out;
}

/** The dashboard's `label_values(selector, label)` variable queries (what fills the job picker). */
function variableQueries(): { name: string; selector: string; label: string }[] {
  const dashboard = JSON.parse(readFileSync(dashboardFile, "utf8")) as {
    templating: { list: { name: string; query?: string | { query?: string } }[] };
  };
  const out: { name: string; selector: string; label: string }[] = [];
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
    const labelValues = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/.exec(query ?? "");
    if (labelValues !== null) {
      out.push({ name: variable.name, selector: labelValues[1] as string, label: labelValues[2] as string });
    }
  }
  return out;
}

/** The query with Grafana's variables replaced; an unknown variable is an error, not a guess. */
function concreteQuery(expr: string): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (match, a, b, c) => {
    const value = grafanaVariables[(a ?? b ?? c) as string];
    if (value === undefined) throw new Error(`unknown Grafana variable ${match} in: ${expr}`);
    return value;
  });
}

/** Polls `probe` until it returns a value; after `timeoutMs` fails with what it last saw. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<{ value: T } | { waiting: string }>,
  timeoutMs = waitMs,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if ("value" in result) return result.value;
    if (Date.now() >= deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms; last: ${result.waiting}`);
    await delay(250);
  }
}

/** The last lines a process wrote, for error messages. */
function tail(child: ChildProcessWithoutNullStreams, keep = 60): () => string {
  const lines: string[] = [];
  const add = (chunk: Buffer) => {
    lines.push(...chunk.toString().split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - keep));
  };
  child.stdout.on("data", add);
  child.stderr.on("data", add);
  return () => lines.join("\n");
}

const exited = (child: ChildProcessWithoutNullStreams) =>
  child.exitCode !== null || child.signalCode !== null;

/** SIGTERM, SIGKILL after {@link stopMs}; resolves with the exit code (null when killed). */
async function stopProcess(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (exited(child)) return child.exitCode;
  const exit = once(child, "exit") as Promise<[number | null, string | null]>;
  child.kill("SIGTERM");
  const patience = new AbortController();
  const stopped = await Promise.race([
    exit,
    delay(stopMs, undefined, { signal: patience.signal }).then(
      () => undefined,
      () => undefined,
    ),
  ]);
  patience.abort();
  if (stopped !== undefined) return stopped[0];
  child.kill("SIGKILL");
  await exit;
  return null;
}

async function getJson(url: string): Promise<{ status: string; data?: unknown; error?: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return (await res.json()) as { status: string; data?: unknown; error?: string };
}

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  url: string;
  logs: () => string;
}

/** Runs examples/metrics-server/server.ts as a program; resolves once it serves /metrics. */
async function startExample(endpoints: string[], track: (r: Running) => void): Promise<Running> {
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", join(import.meta.dirname, "server.ts")],
    { env: { ...process.env, ETCD_ENDPOINTS: endpoints.join(","), PORT: "0" }, stdio: "pipe" },
  );
  child.stdin.end();
  const running: Running = { child, url: "", logs: tail(child) };
  track(running);
  running.url = await waitFor("the metrics example serves /metrics", async () => {
    const serving = /serving (\S+)/.exec(running.logs());
    if (serving !== null) return { value: serving[1] as string };
    if (exited(child)) throw new Error(`the example exited (${child.exitCode}):\n${running.logs()}`);
    return { waiting: running.logs() || "no output yet" };
  });
  return running;
}

/** Starts Prometheus on a free loopback port, scraping `target` every second. */
async function startPrometheus(dir: string, target: URL, track: (r: Running) => void): Promise<Running> {
  const config = join(dir, "prometheus.yml");
  await writeFile(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      `  - job_name: ${jobName}`,
      `    metrics_path: ${target.pathname}`,
      "    static_configs:",
      `      - targets: ["${target.host}"]`,
      "",
    ].join("\n"),
  );
  // freePort's port may be taken before Prometheus binds it: then try another one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      prometheusBin,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: "pipe" },
    );
    child.stdin.end();
    const running: Running = { child, url: `http://127.0.0.1:${port}`, logs: tail(child) };
    track(running);
    const ready = await waitFor("Prometheus is ready", async () => {
      if (exited(child)) return { value: false };
      try {
        const res = await fetch(`${running.url}/-/ready`, { signal: AbortSignal.timeout(5_000) });
        await res.body?.cancel();
        return res.ok ? { value: true } : { waiting: `/-/ready answered ${res.status}` };
      } catch (error) {
        return { waiting: String(error) };
      }
    });
    if (ready) return running;
    if (attempt < 3 && /address already in use/.test(running.logs())) continue;
    throw new Error(`Prometheus exited (${child.exitCode}):\n${running.logs()}`);
  }
}

/** `promtool check metrics` on `text` (stdin): its exit code and everything it printed. */
async function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(promtoolBin, ["check", "metrics"], { stdio: "pipe" });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exit = once(child, "exit") as Promise<[number | null, string | null]>;
  child.stdin.end(text);
  const [code] = await exit;
  return { code, output: output.trim() };
}

describe("examples/metrics-server scraped by a real Prometheus", suiteOptions(), () => {
  // What `after` stops, newest first; filled as things start, so a failed start is cleaned up too.
  const cleanups: { what: string; run: () => Promise<void> }[] = [];
  const children: ChildProcessWithoutNullStreams[] = [];
  // Should the test process die without running `after`, its children die with it.
  const killChildren = () => {
    for (const child of children) if (!exited(child)) child.kill("SIGKILL");
  };
  let example: Running;
  let prometheus: Running;

  before(async () => {
    process.once("exit", killChildren);
    const missing = missingPrometheus();
    assert.equal(missing, undefined, `ETCD_REQUIRED=1: ${missing}`);

    const dir = await mkdtemp(join(tmpdir(), "etcd-connect-prometheus-"));
    cleanups.push({ what: `remove ${dir}`, run: () => rm(dir, { recursive: true, force: true }) });
    const etcd = await startEtcd();
    cleanups.push({ what: "stop etcd", run: () => etcd.close() });

    // A member that is down comes first, as when a service starts during an outage: the
    // client's first call fails there and is retried on the live one, so the retry and
    // endpoint health panels have data. Nothing listens on port 1 (tcpmux, privileged).
    const down = "http://127.0.0.1:1";
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(1, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(false);
      });
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
    });
    assert.ok(refused, `${down} must refuse connections to stand for a member that is down`);

    example = await startExample([down, etcd.clientUrl], (running) => {
      children.push(running.child);
      cleanups.push({
        what: "stop the metrics example",
        run: async () => {
          const code = await stopProcess(running.child);
          assert.equal(code, 0, `the example did not stop cleanly:\n${running.logs()}`);
        },
      });
    });

    prometheus = await startPrometheus(dir, new URL(example.url), (running) => {
      children.push(running.child);
      cleanups.push({
        what: "stop Prometheus",
        run: async () => {
          await stopProcess(running.child);
        },
      });
    });
  });

  after(async () => {
    const failures: string[] = [];
    for (const { what, run } of cleanups.reverse()) {
      try {
        await run();
      } catch (error) {
        failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    process.off("exit", killChildren);
    assert.deepEqual(failures, [], "teardown");
  });

  it("scrapes the example: the target is up", async () => {
    await waitFor("the scrape target is up", async () => {
      const res = await getJson(`${prometheus.url}/api/v1/targets?state=active`);
      const targets = (
        res.data as { activeTargets?: { labels: { job?: string }; health: string; lastError: string }[] }
      )?.activeTargets;
      const target = targets?.find((t) => t.labels.job === jobName);
      if (target?.health === "up") return { value: target };
      return { waiting: JSON.stringify(target ?? res) };
    });
  });

  it("passes promtool check metrics, without lint warnings", async () => {
    const res = await fetch(example.url, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    const text = await res.text();
    // The observer is wired: the client's own series are there, not only the RPC ones.
    for (const series of [
      "etcd_client_retries_total{",
      "etcd_client_endpoint_healthy{",
      "etcd_client_watches 1",
      "etcd_client_kept_leases 1",
    ]) {
      assert.ok(text.includes(series), `${series} in:\n${text}`);
    }
    const { code, output } = await promtoolCheckMetrics(text);
    assert.equal(output, "", "promtool printed problems");
    assert.equal(code, 0);
    // Silence means something: the same promtool flags a metric without HELP (exit code 3).
    const lint = await promtoolCheckMetrics("# TYPE unexplained_total counter\nunexplained_total 1\n");
    assert.match(lint.output, /no help text/);
    assert.equal(lint.code, 3);
  });

  it("answers every query of the Grafana dashboard with at least one series", async () => {
    const queries = dashboardQueries().map(({ panel, expr }) => ({ panel, query: concreteQuery(expr) }));
    assert.ok(queries.length >= 10, "the dashboard has queries");
    // Rates need two scrapes inside their window: wait until every query has data.
    await waitFor("every dashboard query returns a series", async () => {
      const empty: string[] = [];
      for (const { panel, query } of queries) {
        const res = await getJson(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(query)}`);
        // A query Prometheus cannot parse will not parse later either.
        assert.equal(res.status, "success", `panel "${panel}": ${query}: ${res.error}`);
        const { result } = res.data as { result: unknown[] };
        if (result.length === 0) empty.push(`panel "${panel}": ${query}`);
      }
      return empty.length === 0 ? { value: undefined } : { waiting: `no series for\n${empty.join("\n")}` };
    });
  });

  it("lists the example's job in the dashboard's job picker", async () => {
    const variables = variableQueries();
    assert.ok(variables.length > 0, "the dashboard has a label_values variable");
    for (const { name, selector, label } of variables) {
      await waitFor(`$${name} offers ${jobName}`, async () => {
        const res = await getJson(
          `${prometheus.url}/api/v1/label/${label}/values?match[]=${encodeURIComponent(selector)}`,
        );
        assert.equal(res.status, "success", `$${name}: ${selector}: ${res.error}`);
        const values = res.data as string[];
        return values.includes(jobName) ? { value: undefined } : { waiting: JSON.stringify(values) };
      });
    }
  });
});
