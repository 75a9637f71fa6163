import type { Http2Headers } from "./http2-stream.js";

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
