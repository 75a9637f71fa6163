import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LogRing } from "./log-ring.js";

describe("LogRing", () => {
  it("keeps the last lines, joining lines split across chunks", () => {
    const ring = new LogRing(3);
    ring.push("one\ntw");
    ring.push("o\nthree\nfour\nfi");
    assert.equal(ring.tail(), "three\nfour\nfi");
    assert.equal(ring.tail(1), "fi");
  });

  it("appends everything, notes included, to the log file", () => {
    const dir = mkdtempSync(join(tmpdir(), "log-ring-"));
    try {
      const file = join(dir, "member.log");
      const ring = new LogRing(1, file);
      ring.push("a\nb\n");
      ring.note("stopping");
      const text = readFileSync(file, "utf8");
      assert.match(text, /^a\nb\n\[etcd-connect\/testing\] .* stopping\n$/);
      assert.match(ring.tail(), /stopping$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
