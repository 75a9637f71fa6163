import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readmeExamples } from "./readme-examples.js";

describe("readmeExamples", () => {
  it("returns ts and typescript blocks with their line, skipping no-run and other languages", () => {
    const dir = mkdtempSync(join(tmpdir(), "readme-examples-"));
    try {
      const file = join(dir, "README.md");
      const fence = "```";
      writeFileSync(
        file,
        [
          "# Title",
          `${fence}ts`,
          "const a = 1;",
          fence,
          `${fence}sh`,
          "npm test",
          fence,
          `${fence}ts no-run`,
          "skipped();",
          fence,
          `${fence}typescript`,
          "const b = 2;",
          "const c = 3;",
          fence,
        ].join("\n"),
      );
      assert.deepEqual(readmeExamples(file), [
        { file, line: 2, code: "const a = 1;" },
        { file, line: 11, code: "const b = 2;\nconst c = 3;" },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
