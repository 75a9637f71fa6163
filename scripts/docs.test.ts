import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

const root = join(import.meta.dirname, "..");

describe("API reference", () => {
  it("typedoc documents every export without a warning (treatWarningsAsErrors)", () => {
    const typedoc = join(root, "node_modules", ".bin", "typedoc");
    const result = spawnSync(typedoc, ["--emit", "none"], { cwd: root, encoding: "utf8", timeout: 120_000 });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.doesNotMatch(result.stdout, /\[warning\]/);
  });

  it("names each module after its package, @etcd-connect/api included, with its README as a document", () => {
    const typedoc = join(root, "node_modules", ".bin", "typedoc");
    const dir = mkdtempSync(join(tmpdir(), "etcd-connect-docs-"));
    try {
      const json = join(dir, "api.json");
      // Rendering checks links too: it runs with the HTML written to the temporary directory.
      const args = ["--json", json, "--out", join(dir, "html")];
      const result = spawnSync(typedoc, args, { cwd: root, encoding: "utf8", timeout: 120_000 });
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
      assert.doesNotMatch(result.stdout, /\[warning\]/);
      const project = JSON.parse(readFileSync(json, "utf8")) as {
        children: Array<{ name: string; documents?: Array<{ name: string }> }>;
      };
      const names = project.children.map((c) => c.name).sort();
      assert.deepEqual(names, [
        "@etcd-connect/api",
        "@etcd-connect/client",
        "@etcd-connect/concurrency",
        "@etcd-connect/namespace",
        "@etcd-connect/prometheus",
        "@etcd-connect/testing",
        "@etcd-connect/transport",
      ]);
      for (const module of project.children) {
        assert.deepEqual(
          module.documents?.map((d) => d.name),
          ["README"],
          module.name,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
