import { serverText } from "./server-text.js";

/** Header fields as received: lowercase names, pseudo-headers (`:status`) included. */
export type Http2Headers = Record<string, string>;

// Sent by the session for every stream; a caller's copy would repeat them.
const fixedHeaders = new Set(["content-type", "te", "user-agent"]);

/** A request's metadata as extra header fields for {@link Http2Connection.openStream}. */
export function extraHeaders(
  header: Headers,
  more?: readonly [string, string],
): Array<[string, string]> | undefined {
  const extra: Array<[string, string]> = [];
  header.forEach((value, key) => {
    if (!fixedHeaders.has(key)) extra.push([key, value]);
  });
  if (more !== undefined) extra.push([more[0], more[1]]);
  return extra.length > 0 ? extra : undefined;
}

/**
 * Response header fields as Fetch `Headers`, pseudo-headers left out. Fields that Fetch refuses
 * (a name with a space, a value with a control character: HPACK carries them) are dropped
 * rather than thrown from the socket's read.
 */
export function toWebHeaders(fields: Http2Headers, into = new Headers()): Headers {
  for (const key in fields) {
    if (key.charCodeAt(0) === 58 /* ':' */) continue;
    try {
      into.append(key, fields[key] as string);
    } catch {
      // Not a valid HTTP field; gRPC metadata never needs one.
    }
  }
  return into;
}

// Connection-specific fields have no meaning in HTTP/2 (RFC 9113 §8.2.2).
const connectionSpecific = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Why a decoded field section from the server is malformed (RFC 9113 §8.2-8.3), or undefined:
 * `response` is the response's header section, which needs a three-digit `:status` and no other
 * pseudo-header; trailers carry none. Field names must be lowercase tokens and values free of
 * NUL, CR and LF; pseudo-headers come first (`pseudoAfterRegular` is the decoder's verdict: the
 * object's own order puts integer-like names first); connection-specific fields are refused. The RFC leaves no choice here: such a section fails
 * its stream, as in grpc-go (nghttp2 drops a bad regular field and goes on).
 */
export function malformedFields(
  fields: Http2Headers,
  response: boolean,
  pseudoAfterRegular: boolean,
): string | undefined {
  let status: string | undefined;
  for (const name in fields) {
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (!response || name !== ":status") return `the pseudo-header field "${serverText(name, 64)}"`;
      if (pseudoAfterRegular) return "a pseudo-header field after a regular one";
      status = fields[name];
      continue;
    }
    if (!isFieldName(name)) return `the field name "${serverText(name, 64)}"`;
    if (!isFieldValue(fields[name] as string)) return `a NUL, CR or LF in the value of "${name}"`;
    if (connectionSpecific.has(name)) return `the connection-specific field "${name}"`;
  }
  if (!response) return undefined;
  if (status === undefined) return "a response without :status";
  if (!/^[1-5][0-9][0-9]$/.test(status)) return `the :status "${serverText(status, 16)}"`;
  return undefined;
}

// A lowercase token: no uppercase, space, controls or non-ASCII.
function isFieldName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 32 || c >= 127 || (c >= 65 && c <= 90)) return false;
  }
  return true;
}

function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}
