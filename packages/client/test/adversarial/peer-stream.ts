// One stream the client opened on the raw peer: what the client sent on it, the peer's view of
// its flow-control window, and helpers to answer it as a healthy etcd would, or not.

import { headers } from "./frames.js";
import {
  decodeWatchRequest,
  envelope,
  envelopes,
  okHeaders,
  okTrailers,
  paths,
  rangeResponse,
  snapshotResponse,
  watchResponse,
} from "./grpc.js";
import type { HeaderFields } from "./hpack-writer.js";
import type { PeerConnection } from "./raw-peer.js";
import { waitUntil } from "./wait.js";

/** A stream the client opened, with what it sent and helpers to answer it. */
export class PeerStream {
  readonly conn: PeerConnection;
  readonly id: number;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** DATA payloads the client sent. */
  readonly request: Buffer[] = [];
  /** The client sent END_STREAM. */
  ended = false;
  /** The code of the client's RST_STREAM for this stream, if it sent one. */
  resetCode: number | undefined = undefined;
  /** Our view of the client's window for this stream. */
  sendWindow: number;

  constructor(conn: PeerConnection, id: number, fields: Record<string, string>, initialWindow: number) {
    this.conn = conn;
    this.id = id;
    this.headers = fields;
    this.path = fields[":path"] ?? "";
    this.sendWindow = initialWindow;
  }

  /** The client's request messages so far (gRPC payloads). */
  messages(): Buffer[] {
    return envelopes(Buffer.concat(this.request));
  }

  /** Waits (up to 2 s) for the client's `count`th request message. */
  async message(count = 1): Promise<Buffer> {
    const gone = () => this.resetCode !== undefined || this.conn.closedAt !== undefined;
    if (!(await waitUntil(() => this.messages().length >= count || gone(), 2000))) {
      throw new Error(`stream ${this.id}: no request message ${count} within 2 s`);
    }
    const message = this.messages()[count - 1];
    if (message === undefined) throw new Error(`stream ${this.id}: reset or closed before message ${count}`);
    return message;
  }

  /** Writes raw frames. */
  send(...frames: Uint8Array[]): void {
    this.conn.write(...frames);
  }

  /** HEADERS with `fields` (default: a gRPC 200). */
  respond(fields: HeaderFields = okHeaders, endStream = false): void {
    this.send(headers(this.id, fields, { endStream }));
  }

  /** One gRPC message in DATA frames. */
  sendMessage(payload: Uint8Array, endStream = false): void {
    this.conn.sendData(this.id, envelope(payload), { endStream });
  }

  /** Trailers, ending the stream. */
  trail(fields: HeaderFields = okTrailers): void {
    this.send(headers(this.id, fields, { endStream: true }));
  }

  /** Answers as a healthy etcd would: by path; a watch gets its created answer and stays open. */
  async answer(): Promise<void> {
    switch (this.path) {
      case paths.range:
        this.respond();
        this.sendMessage(rangeResponse());
        this.trail();
        return;
      case paths.snapshot:
        this.respond();
        this.sendMessage(snapshotResponse(Buffer.from("snapshot")));
        this.trail();
        return;
      case paths.watch: {
        // A watch stream reset or closed before its create request has nothing to answer.
        const first = await this.message().catch(() => undefined);
        if (first === undefined) return;
        const create = decodeWatchRequest(first);
        const watchId = create.requestUnion.case === "createRequest" ? create.requestUnion.value.watchId : 0n;
        this.respond();
        this.sendMessage(watchResponse({ watchId, created: true }));
        return;
      }
      default:
        this.respond([...okHeaders, ["grpc-status", "12"]], true);
    }
  }
}
