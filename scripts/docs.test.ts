import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
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
});
