import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

function run(file: string, endpoint: string): string {
  const result = spawnSync(
    process.execPath,
    ["--conditions=source", "--import", "tsx", join(import.meta.dirname, file)],
    {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, ETCD_ENDPOINTS: endpoint },
    },
  );
  assert.equal(result.status, 0, `${file} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

describe("examples run against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.close();
  });

  it("basic-kv.ts", () => {
    const out = run("basic-kv.ts", etcd.clientUrl);
    assert.match(out, /alice: \{ role: 'admin' \}/);
    assert.match(out, /claimed ownership: true/);
    assert.match(out, /deleted keys: 3n/);
  });

  it("watch-resume.ts: the resumed watch gets exactly the events written meanwhile", () => {
    const out = run("watch-resume.ts", etcd.clientUrl);
    assert.deepEqual(out.trim().split("\n"), [
      "first run: example/jobs/1",
      "resumed: example/jobs/2",
      "resumed: example/jobs/3",
    ]);
  });

  it("namespaces.ts", () => {
    const out = run("namespaces.ts", etcd.clientUrl);
    assert.match(out, /acme theme: dark/);
    assert.match(out, /globex theme: light/);
    assert.match(out, /acme sees keys: 1n/);
    assert.match(out, /tenants\/acme\/settings\/theme/);
  });

  it("lock.ts: workers take turns, one at a time", () => {
    const out = run("lock.ts", etcd.clientUrl);
    assert.equal(out.match(/ran the nightly job/g)?.length, 3);
    assert.match(out, /last run by: worker-\d/);
  });

  it("election.ts: the second candidate leads once the first resigns", () => {
    const out = run("election.ts", etcd.clientUrl);
    assert.deepEqual(out.trim().split("\n"), [
      "leader: node-a",
      "leader: node-a (still here)",
      "leader: node-b",
    ]);
  });
});
