import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { eventually, get, put } from "./support.js";

describe("startEtcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  const logDir = mkdtempSync(join(tmpdir(), "etcd-connect-logs-"));

  before(async () => {
    etcd = await startEtcd({ name: "solo", logDir });
  });

  after(async () => {
    await etcd?.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  it("starts a healthy member with a fresh data dir and no proxies", async () => {
    assert.equal(etcd.name, "solo");
    assert.match(etcd.clientUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(etcd.clientUrl, etcd.directClientUrl);
    assert.equal(etcd.clientProxy, undefined);
    assert.ok(etcd.running);
    assert.ok(etcd.pid > 0);
    assert.ok(existsSync(etcd.dataDir));
    const status = await etcd.status();
    assert.equal(status.leader, await etcd.memberId());
    assert.match(etcd.logTail(), /started pid/);
    assert.match(readFileSync(join(logDir, "solo.log"), "utf8"), /serving client traffic/);
  });

  it("puts and gets through the JSON gateway", async () => {
    await put(etcd.clientUrl, "greeting", "hello");
    assert.equal(await get(etcd.clientUrl, "greeting"), "hello");
    assert.equal(await get(etcd.clientUrl, "missing"), undefined);
  });

  it("pause() makes the member unresponsive until resume()", async () => {
    await etcd.pause();
    try {
      assert.ok(etcd.paused);
      await assert.rejects(get(etcd.clientUrl, "greeting", { timeoutMs: 500 }), /timed out/);
    } finally {
      etcd.resume();
    }
    assert.equal(await eventually(() => get(etcd.clientUrl, "greeting"), "answer after resume"), "hello");
  });

  it("restart() keeps name, ports and data", async () => {
    const { pid, clientUrl } = etcd;
    await etcd.restart();
    assert.notEqual(etcd.pid, pid);
    assert.equal(etcd.clientUrl, clientUrl);
    assert.equal(await get(etcd.clientUrl, "greeting"), "hello");
  });

  it("kill() then restart() recovers from a crash", async () => {
    await etcd.kill();
    assert.equal(etcd.running, false);
    await assert.rejects(get(etcd.clientUrl, "greeting", { timeoutMs: 1000 }));
    await etcd.restart();
    assert.equal(await get(etcd.clientUrl, "greeting"), "hello");
  });
});
