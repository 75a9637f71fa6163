import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  EtcdNotFoundError,
  EtcdStartError,
  integrationOptions,
  startCluster,
  startEtcd,
} from "@etcd-connect/testing";
import { alive, eventually } from "./support.js";

const fixture = fileURLToPath(new URL("./fixtures/orphan-member.ts", import.meta.url));

/** Runs the fixture in a child node process; resolves once it reports its member. */
async function orphan(mode: "idle" | "throw" | "return") {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fixture, mode], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Kept for failure messages; the "throw" mode prints its stack here on purpose.
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? code)),
  );
  try {
    const lines = createInterface({ input: child.stdout });
    const [first] = await Promise.race([
      lines[Symbol.asyncIterator]()
        .next()
        .then((line) => [line.value as string | undefined]),
      exited.then((code) => {
        throw new Error(`fixture exited early (${code}): ${stderr}`);
      }),
    ]);
    const member = JSON.parse(first ?? "") as { pid: number; dataDir: string };
    return { child, exited, ...member };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}

/** Waits (bounded) until etcd's pid is gone and its data dir removed; SIGKILLs it if the test fails. */
async function assertCleanedUp(pid: number, dataDir: string): Promise<void> {
  try {
    await eventually(async () => (alive(pid) ? undefined : true), `etcd pid ${pid} to exit`, 10_000);
    await eventually(
      async () => (existsSync(dataDir) ? undefined : true),
      `${dataDir} to be removed`,
      10_000,
    );
  } finally {
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
}

describe("teardown", integrationOptions(), () => {
  it("a SIGKILLed test process leaves no etcd behind (watchdog)", async () => {
    const { child, exited, pid, dataDir } = await orphan("idle");
    assert.ok(alive(pid));
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");
    await assertCleanedUp(pid, dataDir);
  });

  it("SIGTERM to the test process kills etcd and removes its data (exit hooks)", async () => {
    const { child, exited, pid, dataDir } = await orphan("idle");
    child.kill("SIGTERM");
    assert.equal(await exited, "SIGTERM");
    await assertCleanedUp(pid, dataDir);
  });

  it("an uncaught exception still kills etcd", async () => {
    const { exited, pid, dataDir } = await orphan("throw");
    assert.equal(await exited, 1);
    await assertCleanedUp(pid, dataDir);
  });

  it("a forgotten member does not keep the process alive, and dies with it", async () => {
    const { exited, pid, dataDir } = await orphan("return");
    assert.equal(await exited, 0);
    await assertCleanedUp(pid, dataDir);
  });

  it("cluster.close() ends every process and removes every data dir", async () => {
    const cluster = await startCluster({ size: 2 });
    let members: { pid: number; dataDir: string }[] = [];
    try {
      members = cluster.members.map(({ pid, dataDir }) => ({ pid, dataDir }));
      for (const { pid, dataDir } of members) assert.ok(alive(pid) && existsSync(dataDir));
    } finally {
      await cluster.close();
    }
    for (const { pid, dataDir } of members) {
      assert.equal(alive(pid), false, `pid ${pid} still alive`);
      assert.equal(existsSync(dataDir), false, `${dataDir} still exists`);
    }
    for (const member of cluster.members) assert.equal(member.clientProxy?.connections, 0);
    await cluster.close();
  });

  it("a member that cannot start fails with its log tail and leaves nothing behind", async () => {
    const error = await startEtcd({ extraArgs: ["--no-such-flag"], name: "broken" }).then(
      () => assert.fail("startEtcd should have failed"),
      (reason: unknown) => reason,
    );
    assert.ok(error instanceof EtcdStartError);
    assert.match(error.message, /etcd member broken exited/);
    assert.match(error.message, /no-such-flag/);
    const log = error.logs.broken ?? "";
    assert.match(log, /flag provided but not defined/);
    const pid = Number(/started pid (\d+)/.exec(log)?.[1]);
    const dataDir = /--data-dir=(\S+)/.exec(log)?.[1] ?? "";
    assert.ok(pid > 0 && dataDir !== "");
    assert.equal(alive(pid), false);
    assert.equal(existsSync(dataDir), false);
  });

  it("retries a start that lost a port race, up to 3 attempts", async () => {
    // A port held for the whole test makes every attempt fail with "address already in use".
    const blocker = createServer();
    blocker.listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const logDir = mkdtempSync(join(tmpdir(), "etcd-connect-race-"));
    try {
      const { port } = blocker.address() as AddressInfo;
      const start = startEtcd({
        name: "race",
        logDir,
        extraArgs: [`--listen-metrics-urls=http://127.0.0.1:${port}`],
      });
      await assert.rejects(start, (error: unknown) => {
        assert.ok(error instanceof EtcdStartError);
        assert.match(error.message, /address already in use/);
        return true;
      });
      const starts = readFileSync(join(logDir, "race.log"), "utf8").match(/started pid/g) ?? [];
      assert.equal(starts.length, 3);
    } finally {
      blocker.close();
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  it("names apt-get install etcd-server when the binary is missing", async () => {
    const saved = process.env.ETCD_BIN;
    process.env.ETCD_BIN = "/nonexistent/etcd";
    try {
      await assert.rejects(startEtcd(), (error: unknown) => {
        assert.ok(error instanceof EtcdNotFoundError);
        assert.match(error.message, /apt-get install etcd-server/);
        return true;
      });
      await assert.rejects(startCluster(), EtcdNotFoundError);
    } finally {
      if (saved === undefined) delete process.env.ETCD_BIN;
      else process.env.ETCD_BIN = saved;
    }
  });
});
