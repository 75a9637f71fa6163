// How node starts worker.ts. The bench measures the clients as users run them, compiled
// JavaScript, and their whole process: a worker started through tsx would carry tsx's loader
// in every figure (about 35 MB of RSS, and its CPU at start). So the bench's own TypeScript is
// transpiled to plain JavaScript in bench/.worker/ first, file by file (no type checks: tsc
// checks the bench in `npm run lint`), and the clients load from their dist/ builds.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import ts from "typescript";

/** The node arguments and script of a Node client's worker. */
export interface NodeWorker {
  execArgv: string[];
  script: string;
}

const benchDir = import.meta.dirname;
const outDir = join(benchDir, ".worker");

/**
 * Transpiles the bench to bench/.worker/ and returns how to start its worker. BENCH_SOURCE=1
 * runs the TypeScript sources of the clients and the bench through tsx instead, as a developer
 * would while changing them.
 */
export async function prepareNodeWorker(): Promise<NodeWorker> {
  if (process.env.BENCH_SOURCE === "1") {
    return {
      execArgv: ["--conditions=source", "--import", "tsx", "--expose-gc"],
      script: join(benchDir, "worker.ts"),
    };
  }
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const sources = (await readdir(benchDir)).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
  for (const file of sources) {
    const text = await readFile(join(benchDir, file), "utf8");
    const { outputText } = ts.transpileModule(text, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    await writeFile(join(outDir, file.replace(/\.ts$/, ".js")), outputText);
  }
  return { execArgv: ["--expose-gc"], script: join(outDir, "worker.js") };
}
