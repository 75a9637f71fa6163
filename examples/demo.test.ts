import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { integrationOptions } from "@etcd-connect/testing";

describe("the Quick start demo", integrationOptions(), () => {
  it("runs to the end and prints the value it read", () => {
    const result = spawnSync(
      process.execPath,
      ["--conditions=source", "--import", "tsx", join(import.meta.dirname, "demo.ts")],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /-> hello, etcd/);
    assert.match(result.stdout, /no etcd process left behind/);
  });
});
