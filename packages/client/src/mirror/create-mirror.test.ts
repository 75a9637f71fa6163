import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EtcdError } from "../errors.js";
import { defaultMaxPendingChanges, defaultMirrorPageSize, validateMirrorOptions } from "./create-mirror.js";

describe("validateMirrorOptions", () => {
  it("fills the documented defaults", () => {
    const config = validateMirrorOptions("config/", {});
    assert.equal(config.pageSize, defaultMirrorPageSize);
    assert.equal(config.pageSize, 1000);
    assert.equal(config.maxPendingChanges, defaultMaxPendingChanges);
    assert.equal(config.maxPendingChanges, 10_000);
    assert.equal(config.signal, undefined);
  });

  it("copies values by default, so a kept value does not hold its whole response", () => {
    const message = new Uint8Array(1024);
    const view = message.subarray(10, 14);
    const kept = validateMirrorOptions("p/", {}).decode(view, new Uint8Array());
    assert.deepEqual(kept, view);
    assert.equal(kept.buffer.byteLength, 4);
  });

  const bad: Array<[string, () => unknown, RegExp]> = [
    ["pageSize 0", () => validateMirrorOptions("p/", { pageSize: 0 }), /pageSize/],
    ["pageSize 1.5", () => validateMirrorOptions("p/", { pageSize: 1.5 }), /pageSize/],
    ["maxPendingChanges 0", () => validateMirrorOptions("p/", { maxPendingChanges: 0 }), /maxPendingChanges/],
    [
      "a decode that is not a function",
      () => validateMirrorOptions("p/", { decode: "text" as unknown as () => string }),
      /decode/,
    ],
    ["a prefix that is not bytes", () => validateMirrorOptions(42 as unknown as string, {}), /prefix/],
  ];
  for (const [name, call, message] of bad) {
    it(`refuses ${name}, naming the option`, () => {
      assert.throws(
        call,
        (error: unknown) => EtcdError.is(error, "invalid_argument") && message.test(error.message),
      );
    });
  }
});
