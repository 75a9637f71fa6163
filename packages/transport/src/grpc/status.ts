import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { toWebHeaders } from "../http2/headers.js";
import { serverText } from "../http2/server-text.js";
import type { Http2Headers } from "../http2/stream.js";

// "0" to "16": one digit, or "1" and a digit up to 16. Anything else ("", " ", "0x0", "2.5",
// "00", "-1", "17") is not a gRPC status, where Number() would have read several of them as OK.
function parseStatusCode(text: string): number | undefined {
  const n = text.length;
  const c0 = text.charCodeAt(0) - 48;
  if (n === 1 && c0 >= 0 && c0 <= 9) return c0;
  if (n === 2 && c0 === 1) {
    const c1 = text.charCodeAt(1) - 48;
    if (c1 >= 0 && c1 <= 6) return 10 + c1;
  }
  return undefined;
}

// gRPC percent-encodes grpc-message; like grpc-go, a malformed escape passes through as it is
// rather than failing the call.
function percentDecode(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw.replace(/%[0-9A-Fa-f]{2}/g, (hex) => String.fromCharCode(Number.parseInt(hex.slice(1), 16)));
  }
}

const base64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/**
 * The outcome of a gRPC call from the header fields that carry its status: the trailers, or the
 * response headers of a trailers-only answer (HEADERS with END_STREAM). Never throws: undefined
 * for OK, else the call's error. A missing or malformed status is Internal, as in grpc-go; the
 * server's message is escaped and cut (see {@link serverText}). One parser for unary and
 * streaming calls, so both report the same code for the same answer.
 *
 * `metadata` (response headers, for an error's metadata) is built only for errors.
 */
export function grpcStatus(
  fields: Http2Headers | undefined,
  responseHeaders: Http2Headers | undefined,
): ConnectError | undefined {
  const status = fields?.["grpc-status"];
  if (status === "0" && fields?.["grpc-status-details-bin"] === undefined) return undefined;
  const metadata = (): Headers => {
    const headers = responseHeaders === undefined ? new Headers() : toWebHeaders(responseHeaders);
    return fields === undefined || fields === responseHeaders ? headers : toWebHeaders(fields, headers);
  };
  if (fields === undefined || status === undefined) {
    return new ConnectError("protocol error: the server sent no grpc-status", Code.Internal, metadata());
  }
  const code = parseStatusCode(status);
  if (code === undefined) {
    return new ConnectError(
      `protocol error: invalid grpc-status "${serverText(status, 32)}"`,
      Code.Internal,
      metadata(),
    );
  }
  const details = fields["grpc-status-details-bin"];
  if (details !== undefined) return detailedStatus(code, details, metadata());
  if (code === 0) return undefined;
  return new ConnectError(serverText(percentDecode(fields["grpc-message"] ?? "")), code as Code, metadata());
}

// grpc-status-details-bin carries a google.rpc.Status; it must be well-formed and agree with
// grpc-status, or the answer is not trustworthy (grpc-go fails such a call with Internal too).
function detailedStatus(code: number, details: string, metadata: Headers): ConnectError | undefined {
  const malformed = () =>
    new ConnectError("protocol error: malformed grpc-status-details-bin", Code.Internal, metadata);
  if (!base64.test(details)) return malformed();
  let parsed: ConnectError | undefined;
  try {
    parsed = findTrailerError(new Headers({ "grpc-status-details-bin": details }));
  } catch {
    return malformed();
  }
  const detailCode = parsed?.code ?? 0;
  if (detailCode !== code) return malformed();
  if (parsed === undefined) return undefined;
  const error = new ConnectError(serverText(parsed.rawMessage), parsed.code, metadata);
  error.details = parsed.details;
  return error;
}
