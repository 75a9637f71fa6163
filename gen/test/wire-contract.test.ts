// Holds proto/ to the etcd wire contract: our .proto files are our own text, so nothing but this
// test stops a wrong field number or type from reaching an etcd server, which would misread it
// silently. The protos are compiled by buf and flattened into rows of the contract's shape.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";

const repoRoot = resolve(import.meta.dirname, "../..");
const localContractPath = join(repoRoot, "proto/wire-contract.tsv");
// The source of truth the local copy was taken from; not every checkout has it.
const sharedContractPath = resolve(repoRoot, "../shared/etcd-api/wire-contract.tsv");
// etcd's lock and election services (v3lockpb, v3electionpb) are outside the shared contract,
// which covers the client API proper; their rows are taken from etcd's own .proto files, which
// the last test below compiles when they are installed.
const lockElectionContractPath = join(repoRoot, "proto/wire-contract-lock-election.tsv");
const header = "kind\tscope\tname\tnumber\ttype\tlabel\textra";

// etcd's own protos, as Debian's golang-etcd-server-dev installs them (etcd 3.4), with what
// they import: the paths inside the import tree, and where each file lies. What they import
// for Go (gogoproto options) and HTTP (google.api.http annotations) shows in no row, and our
// text leaves it out.
const goSources = "/usr/share/gocode/src";
const upstreamTargets = [
  "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
  "etcd/etcdserver/api/v3election/v3electionpb/v3election.proto",
];
const upstreamImports = [
  "etcd/etcdserver/etcdserverpb/rpc.proto",
  "etcd/mvcc/mvccpb/kv.proto",
  "etcd/auth/authpb/auth.proto",
];
const thirdPartyImports: [importPath: string, source: string][] = [
  ["gogoproto/gogo.proto", "github.com/gogo/protobuf/gogoproto/gogo.proto"],
  [
    "google/api/annotations.proto",
    "github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis/google/api/annotations.proto",
  ],
  [
    "google/api/http.proto",
    "github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis/google/api/http.proto",
  ],
];

// The parts of buf's JSON image (protojson of FileDescriptorProto) that the contract covers.
// protojson leaves out unset fields, hence the optional properties.
interface FileJson {
  package?: string;
  messageType?: MessageJson[];
  enumType?: EnumJson[];
  service?: ServiceJson[];
}
interface MessageJson {
  name: string;
  field?: FieldJson[];
  nestedType?: MessageJson[];
  enumType?: EnumJson[];
  oneofDecl?: { name: string }[];
}
interface FieldJson {
  name: string;
  number?: number;
  label?: string;
  type?: string;
  typeName?: string;
  oneofIndex?: number;
  proto3Optional?: boolean;
}
interface EnumJson {
  name: string;
  value?: { name: string; number?: number }[];
}
interface ServiceJson {
  name: string;
  method?: MethodJson[];
}
interface MethodJson {
  name: string;
  inputType?: string;
  outputType?: string;
  clientStreaming?: boolean;
  serverStreaming?: boolean;
}

type Row = [
  kind: string,
  scope: string,
  name: string,
  number: string,
  type: string,
  label: string,
  extra: string,
];

// Compiles the protos under `dir` (default: this repository's buf workspace) into buf's JSON
// image; `args` narrows what it builds.
function buildImage(dir = repoRoot, args: string[] = []): FileJson[] {
  const buf = join(repoRoot, "node_modules/.bin/buf");
  const json = execFileSync(buf, ["build", ...args, "--exclude-source-info", "-o", "-#format=json"], {
    cwd: dir,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const image = JSON.parse(json) as { file?: FileJson[] };
  return image.file ?? [];
}

// ".etcdserverpb.RangeRequest" -> "etcdserverpb.RangeRequest"
function typeRef(name: string | undefined): string {
  return (name ?? "").replace(/^\./, "");
}

function fieldType(field: FieldJson): string {
  const type = field.type ?? "";
  if (type === "TYPE_MESSAGE" || type === "TYPE_ENUM" || type === "TYPE_GROUP") {
    return typeRef(field.typeName);
  }
  return type.replace(/^TYPE_/, "").toLowerCase();
}

function fieldLabel(field: FieldJson): string {
  if (field.label === "LABEL_REPEATED") return "repeated";
  if (field.proto3Optional === true) return "optional";
  return "";
}

function fieldExtra(field: FieldJson, message: MessageJson): string {
  // proto3 optional fields sit in a synthetic oneof of their own; that is presence, not a oneof.
  if (field.oneofIndex === undefined || field.proto3Optional === true) return "";
  const oneof = message.oneofDecl?.[field.oneofIndex];
  assert.ok(oneof, `${message.name}.${field.name} points at a missing oneof`);
  return `oneof:${oneof.name}`;
}

function methodKind(method: MethodJson): string {
  const client = method.clientStreaming === true;
  const server = method.serverStreaming === true;
  if (client && server) return "bidi";
  if (client) return "client_stream";
  if (server) return "server_stream";
  return "unary";
}

function enumRows(scope: string, enumType: EnumJson): Row[] {
  const enumScope = `${scope}.${enumType.name}`;
  return (enumType.value ?? []).map((value) => [
    "enum",
    enumScope,
    value.name,
    String(value.number ?? 0),
    "",
    "",
    "",
  ]);
}

function messageRows(scope: string, message: MessageJson): Row[] {
  const messageScope = `${scope}.${message.name}`;
  const rows: Row[] = (message.field ?? []).map((field) => [
    "field",
    messageScope,
    field.name,
    String(field.number ?? 0),
    fieldType(field),
    fieldLabel(field),
    fieldExtra(field, message),
  ]);
  for (const enumType of message.enumType ?? []) rows.push(...enumRows(messageScope, enumType));
  for (const nested of message.nestedType ?? []) rows.push(...messageRows(messageScope, nested));
  return rows;
}

function fileRows(file: FileJson): Row[] {
  const pkg = file.package ?? "";
  const rows: Row[] = [];
  for (const message of file.messageType ?? []) rows.push(...messageRows(pkg, message));
  for (const enumType of file.enumType ?? []) rows.push(...enumRows(pkg, enumType));
  for (const service of file.service ?? []) {
    for (const method of service.method ?? []) {
      rows.push([
        "rpc",
        `${pkg}.${service.name}`,
        method.name,
        "",
        typeRef(method.inputType),
        typeRef(method.outputType),
        methodKind(method),
      ]);
    }
  }
  return rows;
}

// Returns the contract's rows as tab-joined lines, checking the shape on the way in, because a
// duplicated or malformed line would otherwise vanish in the set comparison.
function readContract(path: string): Set<string> {
  const lines = readFileSync(path, "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  assert.equal(lines[0], header, `${path}: unexpected header`);
  const rows = new Set<string>();
  for (const [index, line] of lines.slice(1).entries()) {
    const where = `${path}:${index + 2}`;
    assert.equal(line.split("\t").length, 7, `${where}: expected 7 tab-separated columns`);
    assert.ok(!rows.has(line), `${where}: duplicate row`);
    rows.add(line);
  }
  return rows;
}

// Shows a row with its empty columns visible.
function showRow(row: string): string {
  return `  ${row.split("\t").join(" | ")}`;
}

// The rows of compiled files as a set, refusing duplicates.
function rowSet(files: FileJson[], what: string): Set<string> {
  const rows = new Set<string>();
  for (const row of files.flatMap(fileRows)) {
    const line = row.join("\t");
    assert.ok(!rows.has(line), `${what} yields a duplicate row:\n${showRow(line)}`);
    rows.add(line);
  }
  return rows;
}

// Fails with every missing and every extra row, when `actual` is not exactly `expected`.
function assertSameRows(actual: Set<string>, expected: Set<string>, what: string, contract: string): void {
  const missing = [...expected].filter((row) => !actual.has(row));
  const extra = [...actual].filter((row) => !expected.has(row));
  if (missing.length === 0 && extra.length === 0) return;
  const report = [`${what} differs from ${contract} (columns: ${header.split("\t").join(" | ")})`];
  if (missing.length > 0) {
    report.push(`${missing.length} row(s) in ${contract} but not in ${what}:`, ...missing.map(showRow));
  }
  if (extra.length > 0) {
    report.push(`${extra.length} row(s) in ${what} but not in ${contract}:`, ...extra.map(showRow));
  }
  assert.fail(report.join("\n"));
}

test("proto/ describes exactly the rows of proto/wire-contract.tsv and the lock and election rows", () => {
  const expected = readContract(localContractPath);
  for (const row of readContract(lockElectionContractPath)) {
    assert.ok(!expected.has(row), `a row of both contract files:\n${showRow(row)}`);
    expected.add(row);
  }
  assertSameRows(rowSet(buildImage(), "proto/"), expected, "proto/", "the wire contract");
});

test("proto/wire-contract.tsv is the shared contract, unchanged", () => {
  const local = readFileSync(localContractPath);
  if (existsSync(sharedContractPath)) {
    assert.ok(
      local.equals(readFileSync(sharedContractPath)),
      `${localContractPath} differs from ${sharedContractPath}; copy it again rather than editing it`,
    );
  } else {
    // Outside the workspace that holds the shared copy, the local file is all there is.
    assert.ok(local.length > 0, `${localContractPath} is empty`);
  }
});

test("proto/wire-contract-lock-election.tsv is what etcd's own v3lock.proto and v3election.proto say", (t) => {
  const contract = readContract(lockElectionContractPath);
  assert.ok(contract.size > 0, `${lockElectionContractPath} is empty`);
  const sources: [importPath: string, source: string][] = [
    ...[...upstreamTargets, ...upstreamImports].map((path): [string, string] => [
      path,
      join(goSources, "go.etcd.io", path),
    ]),
    ...thirdPartyImports.map(([path, source]): [string, string] => [path, join(goSources, source)]),
  ];
  const absent = sources.filter(([, source]) => !existsSync(source)).map(([, source]) => source);
  if (absent.length > 0) {
    // CI installs them (.ci/run: golang-etcd-server-dev); elsewhere the committed rows stand alone.
    assert.notEqual(process.env.ETCD_REQUIRED, "1", `etcd's protos are not installed: ${absent.join(", ")}`);
    t.diagnostic(
      `etcd's protos are not installed (${absent[0]}): checked proto/ against the committed rows only`,
    );
    return;
  }
  // buf compiles a directory: lay etcd's files out under the import paths they use.
  const tree = mkdtempSync(join(tmpdir(), "etcd-protos-"));
  try {
    for (const [path, source] of sources) {
      mkdirSync(dirname(join(tree, path)), { recursive: true });
      copyFileSync(source, join(tree, path));
    }
    const targets = upstreamTargets.flatMap((path) => ["--path", path]);
    const upstream = buildImage(tree, [...targets, "--exclude-imports"]);
    assertSameRows(
      rowSet(upstream, "etcd's v3lock.proto and v3election.proto"),
      contract,
      "etcd's v3lock.proto and v3election.proto",
      lockElectionContractPath,
    );
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
});
