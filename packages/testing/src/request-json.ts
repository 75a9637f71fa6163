import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** TLS material for talking to a member: the CA to trust, and a client identity when it checks certificates. */
export interface ClientTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Options for {@link requestJson}. */
export interface RequestJsonOptions {
  /** `GET` sends no body. Default: `"POST"`. */
  method?: "GET" | "POST";
  /** JSON request body for POST. Default: `{}`. */
  body?: unknown;
  /** Needed for `https:` URLs. */
  tls?: ClientTls | undefined;
  /** Fails the request after this long, connect and response included. Default: 5000. */
  timeoutMs?: number;
  /** etcd auth token, sent as the `Authorization` header. */
  token?: string | undefined;
}

/**
 * Sends one request to an etcd HTTP endpoint (`/health`, or the JSON gateway under `/v3/`) and parses the
 * JSON answer. Uses a fresh connection each time, so a fault injected between calls always applies.
 *
 * @throws When the request times out, the connection fails, or the status is not 2xx (the message then
 *   carries etcd's error text).
 */
export function requestJson(url: string, options: RequestJsonOptions = {}): Promise<unknown> {
  const { method = "POST", body = {}, tls, timeoutMs = 5000, token } = options;
  const target = new URL(url);
  const payload = method === "POST" ? JSON.stringify(body) : undefined;
  const headers: Record<string, string> = {};
  if (payload !== undefined) headers["content-type"] = "application/json";
  if (token !== undefined) headers.authorization = token;
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, {
      method,
      headers,
      agent: false,
      ...(tls === undefined ? {} : { ca: tls.ca, cert: tls.cert, key: tls.key }),
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("error", () => undefined);
      res.once("end", () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          reject(new Error(`${method} ${url} answered ${status}: ${text.trim()}`));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (error) {
          reject(
            new Error(`${method} ${url} answered invalid JSON: ${text.slice(0, 200)}`, { cause: error }),
          );
        }
      });
    });
    req.end(payload);
  });
}

/** The fields of etcd's `/v3/maintenance/status` answer that the testing package uses. */
export interface MemberStatus {
  /** The member that answered. */
  readonly memberId: bigint;
  /** The leader that member knows of; `0n` when it knows none. */
  readonly leader: bigint;
  /** The member's raft term. */
  readonly raftTerm: bigint;
}

/** Reads a member's status through its JSON gateway. int64 fields arrive as strings and zero ones are omitted. */
export async function fetchStatus(
  clientUrl: string,
  tls: ClientTls | undefined,
  timeoutMs: number,
): Promise<MemberStatus> {
  const answer = (await requestJson(`${clientUrl}/v3/maintenance/status`, { tls, timeoutMs })) as {
    header?: { member_id?: string };
    leader?: string;
    raftTerm?: string;
  };
  return {
    memberId: BigInt(answer.header?.member_id ?? "0"),
    leader: BigInt(answer.leader ?? "0"),
    raftTerm: BigInt(answer.raftTerm ?? "0"),
  };
}

/** Whether `/health` says the member is healthy (etcd 3.4 answers `"true"` as a string, newer ones a boolean). */
export async function fetchHealth(
  clientUrl: string,
  tls: ClientTls | undefined,
  timeoutMs: number,
): Promise<boolean> {
  const answer = (await requestJson(`${clientUrl}/health`, { method: "GET", tls, timeoutMs })) as {
    health?: unknown;
  };
  return answer.health === true || answer.health === "true";
}
