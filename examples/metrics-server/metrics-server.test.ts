import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createClient } from "@etcd-connect/client";
import { createClientMetrics } from "@etcd-connect/prometheus";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { Registry } from "prom-client";
import { startMetricsServer } from "./server.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

/** A small parser of Prometheus's text exposition format (version 0.0.4). */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1] as string, type[2] as string);
    if (line.startsWith("#")) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    assert.ok(sample, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = sample[2] ?? "";
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let consumed = 0;
    for (let m = label.exec(body); m !== null; m = label.exec(body)) {
      assert.equal(m.index, consumed, `bad labels in: ${line}`);
      consumed = m.index + m[0].length;
      labels[m[1] as string] = (m[2] as string).replace(/\\(["\\n])/g, (_, c: string) =>
        c === "n" ? "\n" : c,
      );
    }
    assert.equal(consumed, body.length, `bad labels in: ${line}`);
    const raw = sample[3] as string;
    const value =
      raw === "+Inf" ? Number.POSITIVE_INFINITY : raw === "-Inf" ? Number.NEGATIVE_INFINITY : Number(raw);
    assert.ok(!Number.isNaN(value) || raw === "NaN", `bad value in: ${line}`);
    samples.push({ name: sample[1] as string, labels, value });
  }
  return { types, samples };
}

/** The value of the one sample with exactly these labels, or undefined. */
function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return exposition.samples.find(
    (s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted,
  )?.value;
}

const unary = (service: string, method: string) => ({
  grpc_type: "unary",
  grpc_service: `etcdserverpb.${service}`,
  grpc_method: method,
});

describe("examples/metrics-server", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.close());

  it("serves /metrics after real calls, in the exposition format", async () => {
    const registry = new Registry();
    const metrics = createClientMetrics({ registry, handlingTimeHistogram: true });
    await using client = createClient({ endpoints: [etcd.clientUrl], interceptors: [metrics.interceptor] });
    await using server = await startMetricsServer({ registry });

    await client.put("scraped/a", "1");
    const second = await client.put("scraped/a", "2");
    await client.get("scraped/a");
    await client.compact(second.header?.revision ?? 0n);
    await assert.rejects(client.get("scraped/a", { revision: 1 }));

    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const scraped = parseExposition(await res.text());

    assert.equal(scraped.types.get("grpc_client_started_total"), "counter");
    assert.equal(scraped.types.get("grpc_client_handled_total"), "counter");
    assert.equal(scraped.types.get("grpc_client_handling_seconds"), "histogram");
    assert.equal(
      sampleValue(scraped, "grpc_client_handled_total", { ...unary("KV", "Put"), grpc_code: "OK" }),
      2,
    );
    assert.equal(sampleValue(scraped, "grpc_client_started_total", unary("KV", "Put")), 2);
    assert.equal(sampleValue(scraped, "grpc_client_started_total", unary("KV", "Range")), 2);
    assert.equal(
      sampleValue(scraped, "grpc_client_handled_total", { ...unary("KV", "Range"), grpc_code: "OK" }),
      1,
    );
    assert.equal(
      sampleValue(scraped, "grpc_client_handled_total", { ...unary("KV", "Range"), grpc_code: "OutOfRange" }),
      1,
    );
    assert.equal(
      sampleValue(scraped, "grpc_client_handled_total", { ...unary("KV", "Compact"), grpc_code: "OK" }),
      1,
    );
    assert.equal(sampleValue(scraped, "grpc_client_msg_sent_total", unary("KV", "Put")), 2);
    assert.equal(sampleValue(scraped, "grpc_client_msg_received_total", unary("KV", "Range")), 1);
    assert.equal(sampleValue(scraped, "grpc_client_handling_seconds_count", unary("KV", "Put")), 2);
    assert.equal(
      sampleValue(scraped, "grpc_client_handling_seconds_bucket", { ...unary("KV", "Put"), le: "+Inf" }),
      2,
    );
    assert.equal(sampleValue(scraped, "etcd_client_watches", {}), 0);
    // Every grpc_client series carries only the go-grpc-prometheus labels.
    for (const s of scraped.samples.filter((x) => x.name.startsWith("grpc_client_"))) {
      for (const key of Object.keys(s.labels)) {
        assert.ok(
          ["grpc_type", "grpc_service", "grpc_method", "grpc_code", "le"].includes(key),
          `label ${key}`,
        );
      }
    }

    const missing = await fetch(server.url.replace("/metrics", "/other"));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });

  it("runs as a program: makes its calls, serves them, and stops on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--conditions=source", "--import", "tsx", join(import.meta.dirname, "server.ts")],
      {
        env: { ...process.env, ETCD_ENDPOINTS: etcd.clientUrl, PORT: "0" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const exited = once(child, "exit");
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      let stdout = "";
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          const serving = /serving (\S+)/.exec(stdout);
          if (serving !== null) resolve(serving[1] as string);
        });
        child.once("exit", (code) =>
          reject(new Error(`server exited (${code}) early:\n${stdout}\n${stderr}`)),
        );
      });
      assert.match(stdout, /read back: hello/);
      const scraped = parseExposition(await (await fetch(url)).text());
      for (const [method, n] of [
        ["Put", 1],
        ["Range", 1],
        ["DeleteRange", 1],
      ] as const) {
        assert.equal(
          sampleValue(scraped, "grpc_client_handled_total", { ...unary("KV", method), grpc_code: "OK" }),
          n,
          method,
        );
      }
    } finally {
      child.kill("SIGTERM");
      const [code] = await exited;
      assert.equal(code, 0, stderr);
    }
  });
});
