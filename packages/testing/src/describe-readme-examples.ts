import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { integrationOptions } from "./find-etcd.js";
import { type ExampleResult, type MarkdownExample, readmeExamples, runExample } from "./readme-examples.js";
import { startEtcd } from "./start-etcd.js";

/** What the examples run against: environment variables, and how to tear it down. */
export interface ExampleEnvironment {
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Options of {@link describeReadmeExamples}. */
export interface ReadmeExamplesOptions {
  /** The package folder: its README.md is read, and example imports resolve from it. */
  packageDir: string;
  /** Fail unless the README has at least this many examples. Default: 1. */
  minExamples?: number;
  /**
   * Starts what the examples talk to. Default: one etcd member, its URL in `ETCD_ENDPOINTS`.
   */
  setup?: () => Promise<ExampleEnvironment>;
  /** More checks of an example's run, after "exited 0 and printed something". */
  check?: (example: MarkdownExample, result: ExampleResult) => void;
}

async function oneMember(): Promise<ExampleEnvironment> {
  const etcd = await startEtcd();
  return { env: { ETCD_ENDPOINTS: etcd.clientUrl }, close: () => etcd.close() };
}

/**
 * A node:test suite that runs every ```ts block of a package's README against real etcd, each
 * as its own process: the examples a reader copies are the ones that were tested.
 *
 * @example
 * // packages/my-package/test/readme.test.ts
 * describeReadmeExamples({ packageDir: join(import.meta.dirname, "..") });
 */
export function describeReadmeExamples(options: ReadmeExamplesOptions): void {
  const examples = readmeExamples(join(options.packageDir, "README.md"));
  describe("README examples run against a real etcd", integrationOptions(), () => {
    let environment: ExampleEnvironment | undefined;
    before(async () => {
      environment = await (options.setup ?? oneMember)();
    });
    after(async () => {
      await environment?.close();
    });

    it("has examples", () => assert.ok(examples.length >= (options.minExamples ?? 1)));
    for (const example of examples) {
      it(`example at line ${example.line}`, async () => {
        const result = await runExample(example, { cwd: options.packageDir, env: environment?.env ?? {} });
        assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr}`);
        assert.ok(result.stdout.length > 0, "the example printed nothing");
        options.check?.(example, result);
      });
    }
  });
}
