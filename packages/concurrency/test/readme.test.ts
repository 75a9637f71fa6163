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

describe("README examples run against a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.close());

  const examples = readmeExamples(readme);
  it("has examples", () => assert.ok(examples.length >= 4));
  for (const example of examples) {
    it(`example at line ${example.line}`, async () => {
      const result = await runExample(example, {
        cwd: join(import.meta.dirname, ".."),
        env: { ETCD_ENDPOINTS: etcd.clientUrl },
      });
      assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr}`);
      assert.ok(result.stdout.length > 0, "the example printed nothing");
    });
  }
});
