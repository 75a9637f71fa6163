// The README's TypeScript examples are kept as files beside this test, which asserts that they match the
// README word for word and then runs them (their suites register into this file's run).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";

const read = (name: string) => readFileSync(new URL(name, import.meta.url), "utf8");

const blocks = [...read("../README.md").matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);

it("README.md's ts blocks are the example files, in order", () => {
  assert.deepEqual(blocks, [read("./readme-example.ts"), read("./readme-cluster-example.ts")]);
});

await import("./readme-example.js");
await import("./readme-cluster-example.js");
