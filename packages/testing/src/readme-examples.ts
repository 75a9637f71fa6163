import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** One fenced TypeScript block of a Markdown file. */
export interface MarkdownExample {
  /** The Markdown file. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The code between the fences. */
  readonly code: string;
}

/**
 * The fenced blocks tagged `ts` (or `typescript`) of a Markdown file, in order, so a test can
 * run every example a README shows. Blocks tagged `ts no-run` are left out.
 */
export function readmeExamples(file: string): MarkdownExample[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const examples: MarkdownExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript)(\s.*)?$/.exec(lines[i] ?? "");
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] ?? "");
    if (!/no-run/.test(open[2] ?? "")) examples.push({ file, line: start + 1, code: body.join("\n") });
  }
  return examples;
}

/** Options of {@link runExample}. */
export interface RunExampleOptions {
  /** Folder whose node_modules resolve the example's imports (a package folder). */
  cwd: string;
  /** Extra environment variables, e.g. `ETCD_ENDPOINTS`. */
  env?: Record<string, string>;
  /** Kill the example after this many ms. Default: 30000. */
  timeoutMs?: number;
}

/** What an example printed and how it exited. */
export interface ExampleResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs one example as its own Node process (through tsx, with the `source` export condition,
 * so a workspace runs its TypeScript sources). The file is written under `cwd` so package
 * imports resolve as they would in an app, and removed afterwards.
 */
export async function runExample(
  example: MarkdownExample,
  options: RunExampleOptions,
): Promise<ExampleResult> {
  const dir = await mkdtemp(join(options.cwd, ".example-"));
  const file = join(dir, `line-${example.line}.ts`);
  await writeFile(file, example.code);
  try {
    return await new Promise<ExampleResult>((resolve, reject) => {
      const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", file], {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
