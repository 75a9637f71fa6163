import assert from "node:assert/strict";
import { join } from "node:path";
import { describeReadmeExamples } from "@etcd-connect/testing";

// Lines an example shows as its output ("// grpc_client_..." or "// [ ... ]") must be printed.
function promisedOutput(code: string): string[] {
  return code
    .split("\n")
    .map(
      (line) => /^\/\/ (grpc_client_\S+ \d+)$/.exec(line.trim())?.[1] ?? /\/\/ (\[ .* \])$/.exec(line)?.[1],
    )
    .filter((line): line is string => line !== undefined);
}

describeReadmeExamples({
  packageDir: join(import.meta.dirname, ".."),
  minExamples: 2,
  check(example, result) {
    for (const line of promisedOutput(example.code)) {
      assert.ok(result.stdout.includes(line), `printed ${line}\n${result.stdout}`);
    }
  },
});
