import type { Endpoint, JsonValue } from "./endpoint.js";
import { invalidArgument } from "./errors.js";
import { byUtf8 } from "./key-order.js";

/**
 * How deep metadata may nest when we write it. Go reads values nested up to 10000 levels; a
 * bound well below that keeps our writer's recursion shallow and every value we write readable.
 */
export const maxMetadataDepth = 1000;

// Go's decoder refuses JSON nested deeper than this (encoding/json's maxNestingDepth); the
// stored object itself is the first level.
const goMaxNestingDepth = 10_000;

// What Go's encoding/json escapes in a string (with its default HTML escaping), besides the
// quote and the backslash: control characters, <, > and &, and the line and paragraph
// separators that break JavaScript string literals.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what Go escapes.
const goEscaped = /["\\\u0000-\u001f<>&\u2028\u2029]/g;
const shortEscapes: Readonly<Record<string, string>> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};
// A surrogate without its partner: UTF-8 cannot carry it, TextEncoder turns it into U+FFFD,
// so Go would have been given (and writes) U+FFFD.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Text as the UTF-8 bytes it will be stored as: lone surrogates become U+FFFD. */
function wellFormed(text: string): string {
  return text.replace(loneSurrogate, "\uFFFD");
}

/**
 * A JSON string as Go's encoding/json writes it. `\b` and `\f` are written as `\u0008` and
 * `\u000c`, as Go wrote them before 1.22 (Debian's Go, against which the interop test runs);
 * newer Go writes `\b` and `\f`. Both read back the same everywhere.
 */
function goString(text: string): string {
  const escaped = wellFormed(text).replace(
    goEscaped,
    (ch) => shortEscapes[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `"${escaped}"`;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A metadata value as Go's json.Marshal writes the same value read into an `interface{}`. */
function goJson(value: unknown, path: string, depth: number, seen: Set<object>): string {
  if (depth > maxMetadataDepth) {
    throw invalidArgument(`endpoint metadata nests deeper than ${maxMetadataDepth} levels at ${path}`);
  }
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return goString(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw invalidArgument(`endpoint metadata at ${path} is ${value}: JSON has no such number`);
      }
      // JavaScript and Go write the shortest round-trip digits and switch to exponents at the
      // same bounds (below 1e-6, from 1e21); Go keeps the sign of zero.
      return Object.is(value, -0) ? "-0" : String(value);
    case "object":
      break;
    default:
      throw invalidArgument(
        `endpoint metadata at ${path} is a ${typeof value}: only JSON values can be stored`,
      );
  }
  if (seen.has(value)) throw invalidArgument(`endpoint metadata at ${path} refers to itself`);
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      const items = value.map((item, i) => {
        if (item === undefined) throw invalidArgument(`endpoint metadata at ${path}[${i}] is undefined`);
        return goJson(item, `${path}[${i}]`, depth + 1, seen);
      });
      return `[${items.join(",")}]`;
    }
    if (!isPlainObject(value)) {
      throw invalidArgument(
        `endpoint metadata at ${path} is a ${value.constructor?.name ?? "non-plain object"}: only plain objects, arrays and JSON primitives can be stored`,
      );
    }
    const record = value as Record<string, unknown>;
    // Go writes a map's keys sorted by their bytes.
    const names = Object.keys(record)
      .filter((name) => record[name] !== undefined)
      .map((name) => ({ name, stored: wellFormed(name) }))
      .sort((a, b) => byUtf8(a.stored, b.stored));
    const members: string[] = [];
    for (const [i, { name, stored }] of names.entries()) {
      if (i > 0 && names[i - 1]?.stored === stored) {
        throw invalidArgument(`endpoint metadata at ${path} has two keys that are the same text in UTF-8`);
      }
      members.push(`${goString(stored)}:${goJson(record[name], `${path}.${name}`, depth + 1, seen)}`);
    }
    return `{${members.join(",")}}`;
  } finally {
    seen.delete(value);
  }
}

/**
 * The stored value of an endpoint: the JSON that Go's `endpoints.Manager` writes for it, byte
 * for byte (`{"Op":0,"Addr":"10.0.0.7:8080","Metadata":null}`): fields in Go's order, no
 * spaces, object keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go escapes them.
 * Refuses (`EtcdError` `invalid_argument`) what Go could not have written: a non-string
 * `addr`, an empty `addr` without metadata, metadata that is not JSON (a function, a bigint,
 * `NaN`, a class instance, a cycle) or nests deeper than {@link maxMetadataDepth}.
 *
 * @example
 * encodeEndpoint({ addr: "10.0.0.7:8080", metadata: { zone: "b", weight: 2 } });
 * // '{"Op":0,"Addr":"10.0.0.7:8080","Metadata":{"weight":2,"zone":"b"}}'
 */
export function encodeEndpoint(endpoint: Endpoint): string {
  if (typeof endpoint !== "object" || endpoint === null) {
    throw invalidArgument(`an endpoint must be an object { addr, metadata? }, got ${String(endpoint)}`);
  }
  const { addr, metadata } = endpoint;
  if (typeof addr !== "string") {
    throw invalidArgument(`endpoint addr must be a string, got ${typeof addr}`);
  }
  // Go's storage format says an update must carry an address or metadata.
  if (addr === "" && (metadata === undefined || metadata === null)) {
    throw invalidArgument("endpoint addr is empty and there is no metadata: nothing to register");
  }
  return `{"Op":0,"Addr":${goString(addr)},"Metadata":${goJson(metadata ?? null, "metadata", 1, new Set())}}`;
}

/** Checks what Go would refuse to read into an `interface{}`, and freezes what it keeps. */
function readableMetadata(value: unknown): boolean {
  // A loop, not recursion: the nesting depth is the writer's choice.
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 2 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { value: item, depth } = top;
    if (typeof item === "number" && !Number.isFinite(item)) return false; // beyond float64: Go fails
    if (typeof item !== "object" || item === null) continue;
    if (depth > goMaxNestingDepth) return false;
    for (const child of Object.values(item)) stack.push({ value: child, depth: depth + 1 });
    Object.freeze(item);
  }
  return true;
}

// Go matches JSON keys to struct fields ignoring ASCII case: "addr" and "ADDR" fill Addr. The
// `i` flag without `u` folds ASCII only, as Go does for these names.
const opField = /^op$/i;
const addrField = /^addr$/i;
const metadataField = /^metadata$/i;

/**
 * Reads a stored endpoint as Go's manager does (`json.Unmarshal` into its update struct), or
 * returns `undefined` for a value Go skips too: not JSON, not an object, an `Addr` that is not
 * a string, an `Op` that is not a whole number 0 to 255, a number beyond float64. As in Go, key
 * names match ignoring ASCII case, unknown keys and `Op` are ignored, and the value `null`
 * reads as an endpoint with an empty address.
 *
 * @example
 * decodeEndpoint('{"Op":0,"Addr":"10.0.0.7:8080","Metadata":{"zone":"b"}}');
 * // { addr: "10.0.0.7:8080", metadata: { zone: "b" } }
 * decodeEndpoint("not json"); // undefined
 */
export function decodeEndpoint(value: Uint8Array | string): Endpoint | undefined {
  let parsed: unknown;
  try {
    // A byte order mark is kept, so that JSON.parse refuses it as Go does.
    parsed = JSON.parse(typeof value === "string" ? value : decoder.decode(value));
  } catch {
    return undefined;
  }
  if (parsed === null) return Object.freeze({ addr: "", metadata: null });
  if (typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
  let addr = "";
  let metadata: unknown = null;
  for (const [name, field] of Object.entries(parsed)) {
    if (opField.test(name)) {
      if (field !== null && !(Number.isInteger(field) && field >= 0 && field <= 255)) return undefined;
    } else if (addrField.test(name)) {
      // JSON null leaves a Go string as it was.
      if (field === null) continue;
      if (typeof field !== "string") return undefined;
      addr = field;
    } else if (metadataField.test(name)) {
      metadata = field;
    }
  }
  if (!readableMetadata(metadata)) return undefined;
  return Object.freeze({ addr, metadata: metadata as JsonValue });
}
