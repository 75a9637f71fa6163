/**
 * Labels an etcd peer connection with the sending member's id in hex, for {@link FaultProxy} `classify`.
 * rafthttp sets `X-Server-From: <member id in hex>` on every peer request (streams, pipelines, snapshots),
 * and a connection only ever carries one member's requests, so the first request's headers tell who talks.
 */
export function etcdPeerSender(head: Buffer): string | undefined {
  const match = /\r\nx-server-from: *([0-9a-f]+)\r\n/i.exec(head.toString("latin1"));
  return match?.[1]?.toLowerCase();
}
