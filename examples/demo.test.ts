import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { integrationOptions } from "@etcd-connect/testing";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the Quick start demo", integrationOptions(), () => {
  it("tours the client on a 3-member cluster, survives a killed member without loss, and cleans up", () => {
    const result = spawnSync(
      process.execPath,
      ["--conditions=source", "--import", "tsx", join(import.meta.dirname, "demo.ts")],
      { encoding: "utf8", timeout: 120_000 },
    );
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    const out = result.stdout;
    assert.match(out, /get demo\/greeting -> hello, etcd/);
    assert.match(out, /event: demo\/orders\/1 = paid/);
    assert.match(out, /tenant A reads config -> A's config/);
    assert.match(out, /grpc_client_handled_total\{.*grpc_method="Put",grpc_code="OK"\}/);
    assert.match(out, /no acknowledged write and no event lost across the failover/);
    assert.match(out, /no etcd process left behind/);
    // Every etcd the demo started is gone.
    const pids = [...out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 3);
    assert.deepEqual(pids.filter(alive), []);
  });
});
