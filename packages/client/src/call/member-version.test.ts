import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVersionAtLeast } from "./member-version.js";

describe("isVersionAtLeast", () => {
  const cases: Array<[string, boolean]> = [
    ["3.4.0", true],
    ["3.4.23", true],
    ["3.5.1", true],
    ["4.0.0", true],
    ["3.3.27", false],
    ["2.3.8", false],
    ["", false],
    ["not-a-version", false],
  ];
  for (const [version, expected] of cases) {
    it(`${JSON.stringify(version)} >= 3.4 is ${expected}`, () => {
      assert.equal(isVersionAtLeast(version, 3, 4), expected);
    });
  }
});
