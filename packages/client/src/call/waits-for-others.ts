import type { DescMethod } from "@bufbuild/protobuf";
import { Election } from "@etcd-connect/api/v3electionpb";
import { Lock } from "@etcd-connect/api/v3lockpb";

// Calls that wait for other clients: a lock held elsewhere, a leader that has not stepped down.
// They may wait as long as it takes, so the client-wide default deadline of unary calls
// (`requestTimeoutMs`) does not apply to them; their own `timeoutMs` or `signal` does.
const waiting = new Set<DescMethod>([Lock.method.lock, Election.method.campaign]);

/**
 * The deadline a unary call gets: its own, else the client-wide default unless the call waits
 * for other clients.
 */
export function unaryTimeoutMs(
  method: DescMethod,
  timeoutMs: number | undefined,
  requestTimeoutMs: number | undefined,
): number | undefined {
  if (timeoutMs !== undefined || requestTimeoutMs === undefined) return timeoutMs;
  return waiting.has(method) ? undefined : requestTimeoutMs;
}
