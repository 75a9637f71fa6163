import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

const root = join(import.meta.dirname, "..");

// Every package a release publishes (the workspaces that are not private), by name: each must be a
// module of the reference, so a new package cannot be left out of it.
function publishedPackages(): string[] {
  const dirs = ["gen", ...readdirSync(join(root, "packages")).map((name) => join("packages", name))];
  return dirs
    .map(
      (dir) =>
        JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as {
          name: string;
          private?: boolean;
        },
    )
    .filter((pkg) => pkg.private !== true)
    .map((pkg) => pkg.name)
    .sort();
}

describe("API reference", () => {
  // One typedoc run (about 10 s) serves both checks: it renders the HTML, which checks links
  // too, and writes the JSON model the names are read from.
  let dir: string;
  let result: SpawnSyncReturns<string>;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "etcd-connect-docs-"));
    const typedoc = join(root, "node_modules", ".bin", "typedoc");
    const args = ["--json", join(dir, "api.json"), "--out", join(dir, "html")];
    result = spawnSync(typedoc, args, { cwd: root, encoding: "utf8", timeout: 120_000 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("typedoc documents every export without a warning (treatWarningsAsErrors)", () => {
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.doesNotMatch(result.stdout, /\[warning\]/);
  });

  it("names each module after its package, @etcd-connect/api included, with its README as a document", () => {
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    const project = JSON.parse(readFileSync(join(dir, "api.json"), "utf8")) as {
      children: Array<{ name: string; documents?: Array<{ name: string }> }>;
    };
    const names = project.children.map((c) => c.name).sort();
    assert.deepEqual(names, publishedPackages());
    for (const module of project.children) {
      assert.deepEqual(
        module.documents?.map((d) => d.name),
        ["README"],
        module.name,
      );
    }
  });
});
