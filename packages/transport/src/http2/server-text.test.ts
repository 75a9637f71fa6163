import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serverText } from "./server-text.js";

describe("serverText", () => {
  it("leaves printable text as it is", () => {
    assert.equal(serverText("etcdserver: key not found"), "etcdserver: key not found");
    assert.equal(serverText("ünïcödé ✓"), "ünïcödé ✓");
  });

  it("escapes C0, DEL and C1 controls so a log line cannot be forged", () => {
    assert.equal(serverText("a\r\nb\u001b[31mc\u007fd\u0085"), "a\\x0d\\x0ab\\x1b[31mc\\x7fd\\x85");
  });

  it("escapes Unicode line separators and bidirectional controls, which reorder or split a line", () => {
    assert.equal(
      serverText("a\u2028b\u2029c\u202ed\u2066e\u200ff"),
      "a\\u2028b\\u2029c\\u202ed\\u2066e\\u200ff",
    );
    // Their neighbours are text: an en dash, a zero-width joiner, a narrow no-break space.
    assert.equal(serverText("a\u2013b\u200dc\u202fd"), "a\u2013b\u200dc\u202fd");
  });

  it("cuts long text and says how much was left out", () => {
    const text = serverText("x".repeat(5000), 1024);
    assert.equal(text, `${"x".repeat(1024)}... (3976 more characters)`);
  });
});
