import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type EtcdMember,
  integrationOptions,
  readmeExamples,
  runExample,
  startEtcd,
} from "@etcd-connect/testing";

const readme = join(import.meta.dirname, "..", "README.md");

// Lines an example shows as its output ("// grpc_client_..." or "// [ ... ]") must be printed.
function promisedOutput(code: string): string[] {
  return code
    .split("\n")
    .map(
      (line) => /^\/\/ (grpc_client_\S+ \d+)$/.exec(line.trim())?.[1] ?? /\/\/ (\[ .* \])$/.exec(line)?.[1],
    )
    .filter((line): line is string => line !== undefined);
}

describe("README examples run against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.close());

  const examples = readmeExamples(readme);
  it("has examples", () => assert.ok(examples.length >= 2));
  for (const example of examples) {
    it(`example at line ${example.line}`, async () => {
      const result = await runExample(example, {
        cwd: join(import.meta.dirname, ".."),
        env: { ETCD_ENDPOINTS: etcd.clientUrl },
      });
      assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr}`);
      assert.ok(result.stdout.length > 0, "the example printed nothing");
      for (const line of promisedOutput(example.code)) {
        assert.ok(result.stdout.includes(line), `printed ${line}\n${result.stdout}`);
      }
    });
  }
});
