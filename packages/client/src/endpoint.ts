import { invalidArgument } from "./errors.js";

/** A parsed endpoint: its normalised URL, whether it uses TLS, and where to dial. */
export interface Endpoint {
  /** Normalised URL, e.g. `http://127.0.0.1:2379` or `unix:///run/etcd.sock`. */
  readonly url: string;
  /** `https://` and `unixs://`. */
  readonly tls: boolean;
  /**
   * The host to dial over TCP. For a Unix socket, the name the server is known by: the host of
   * etcd's own `unix://host:port` form, else `localhost`. It is the HTTP/2 `:authority` and,
   * over `unixs://`, the name the certificate is checked against unless `tls.servername` is set.
   */
  readonly host: string;
  /** The TCP port; 0 for a Unix socket. */
  readonly port: number;
  /** The Unix socket to dial, for `unix://` and `unixs://` endpoints; absent for TCP. */
  readonly socketPath?: string;
}

const expected = "expected http(s)://host:port, unix(s):///absolute/path or unix(s)://host:port";

/**
 * Parses one endpoint:
 *
 * - `http://host:port`, `https://host:port`, or a bare `host:port` (http);
 * - `unix:///absolute/path` or `unixs:///absolute/path`: a Unix domain socket, plaintext or TLS;
 * - `unix://host:port` (etcd's own form for `--listen-client-urls`): the socket file named
 *   `host:port`, relative to the working directory, as Go's client reads it. etcd creates it in
 *   its own working directory; prefer the absolute form.
 *
 * Percent escapes in a socket path are decoded (`%20` is a space).
 * @throws EtcdError with reason `invalid_argument` for anything else.
 */
export function parseEndpoint(endpoint: string): Endpoint {
  // Error messages quote the endpoint without any user info it may carry.
  const quoted = JSON.stringify(String(endpoint).replace(/\/\/[^/@]*@/, "//***@"));
  if (typeof endpoint !== "string" || endpoint.trim() === "") {
    throw invalidArgument(`invalid endpoint ${quoted}: ${expected}`);
  }
  const unix = /^(unixs?):\/\/(.*)$/is.exec(endpoint);
  if (unix !== null) {
    return unixEndpoint((unix[1] as string).toLowerCase() as "unix" | "unixs", unix[2] as string, quoted);
  }
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidArgument(`invalid endpoint ${quoted}: ${expected}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalidArgument(`invalid endpoint ${quoted}: scheme must be http, https, unix or unixs`);
  }
  if (url.username !== "" || url.password !== "" || (url.pathname !== "/" && url.pathname !== "")) {
    throw invalidArgument(`invalid endpoint ${quoted}: only scheme, host and port are allowed`);
  }
  if (url.search !== "" || url.hash !== "" || url.hostname === "") {
    throw invalidArgument(`invalid endpoint ${quoted}: only scheme, host and port are allowed`);
  }
  const tls = url.protocol === "https:";
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  return { url: url.origin, tls, host: url.hostname.replace(/^\[|\]$/g, ""), port };
}

// etcd's `unix://host:port`: a DNS-like name and a port, which together name the socket file.
const etcdUnixForm = /^([A-Za-z0-9.-]+):(\d+)$/;

// Go's client takes everything after `unix://` (URL host and path) as the socket path; so do we,
// without the query, fragment or user info that Go's URL parser would drop silently.
function unixEndpoint(scheme: "unix" | "unixs", rest: string, quoted: string): Endpoint {
  if (rest === "" || /[?#@]/.test(rest)) {
    throw invalidArgument(`invalid endpoint ${quoted}: ${expected}`);
  }
  let socketPath: string;
  try {
    socketPath = decodeURIComponent(rest);
  } catch {
    throw invalidArgument(`invalid endpoint ${quoted}: bad percent escape in the socket path`);
  }
  if (socketPath.includes("\0")) {
    throw invalidArgument(`invalid endpoint ${quoted}: the socket path must not contain NUL`);
  }
  const host = etcdUnixForm.exec(socketPath)?.[1]?.toLowerCase() ?? "localhost";
  return { url: `${scheme}://${rest}`, tls: scheme === "unixs", host, port: 0, socketPath };
}
