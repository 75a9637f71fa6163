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
  let tlsEtcd: EtcdMember;
  before(async () => {
    [etcd, tlsEtcd] = await Promise.all([startEtcd(), startEtcd({ tls: true })]);
  });
  after(async () => {
    await etcd?.close();
    await tlsEtcd?.close();
  });

  const examples = readmeExamples(readme);
  it("has examples", () => assert.ok(examples.length >= 6));
  for (const example of examples) {
    it(`example at line ${example.line}`, async () => {
      const result = await runExample(example, {
        cwd: join(import.meta.dirname, ".."),
        env: {
          ETCD_ENDPOINTS: etcd.clientUrl,
          ETCD_TLS_ENDPOINTS: tlsEtcd.clientUrl,
          ETCD_CA: tlsEtcd.certificates?.ca.cert ?? "",
        },
      });
      assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr}`);
      assert.ok(result.stdout.length > 0, "the example printed nothing");
    });
  }
});
