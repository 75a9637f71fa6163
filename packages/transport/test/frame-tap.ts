// A TCP relay between the HTTP/2 client and its test peer that records the frames, so a test
// can show that a protocol edge really happened instead of trusting that it did.

import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import type { TestContext } from "node:test";

/** HTTP/2 frame types (RFC 9113, section 6), to pick frames out of a {@link FrameLog}. */
export const frameType = {
  data: 0,
  headers: 1,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  windowUpdate: 8,
  continuation: 9,
} as const;

/** HTTP/2 frame flags the tests look for. */
export const flag = { endStream: 0x1, endHeaders: 0x4, padded: 0x8 } as const;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  length: number;
  /** Kept for frames other than DATA. */
  payload: Buffer | undefined;
}

/** Splits one direction of a connection into frames. */
export class FrameLog {
  readonly frames: Frame[] = [];
  private buffered = Buffer.alloc(0);
  private skip: number;

  constructor(skip: number) {
    this.skip = skip;
  }

  push(chunk: Buffer): void {
    let buf = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.skip > 0) {
      const n = Math.min(this.skip, buf.length);
      buf = buf.subarray(n);
      this.skip -= n;
    }
    while (buf.length >= 9) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < 9 + length) break;
      const type = buf[3] as number;
      this.frames.push({
        type,
        flags: buf[4] as number,
        stream: buf.readUInt32BE(5) & 0x7fff_ffff,
        length,
        payload: type === frameType.data ? undefined : Buffer.from(buf.subarray(9, 9 + length)),
      });
      buf = buf.subarray(9 + length);
    }
    this.buffered = Buffer.from(buf);
  }

  of(type: number, stream?: number): Frame[] {
    return this.frames.filter((f) => f.type === type && (stream === undefined || f.stream === stream));
  }
}

export interface Tap {
  readonly port: number;
  /** Frames the client sent (after the connection preface). */
  readonly fromClient: FrameLog;
  readonly fromServer: FrameLog;
}

/** A TCP relay to `target` that logs the frames of the one connection it carries. */
export async function startTap(t: TestContext, target: number): Promise<Tap> {
  const fromClient = new FrameLog(24);
  const fromServer = new FrameLog(0);
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    assert.equal(sockets.length, 0, "the tap carries a single connection");
    const upstream = net.connect(target, "127.0.0.1");
    sockets.push(client, upstream);
    for (const socket of [client, upstream]) socket.on("error", () => {});
    client.on("data", (chunk: Buffer) => {
      fromClient.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      fromServer.push(chunk);
      client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, fromClient, fromServer };
}

// A hang detector, not a timing assert: the wait ends early only when no frame at all has moved
// for this long, which on a loopback connection means that nothing ever will.
export const stallMs = 2000;

/** True once `ready()` holds; false once the tap has carried no frame for {@link stallMs}. */
export async function progressUntil(ready: () => boolean, tap: Tap): Promise<boolean> {
  const traffic = () => tap.fromClient.frames.length + tap.fromServer.frames.length;
  let seen = traffic();
  let quietSince = Date.now();
  while (!ready()) {
    if (Date.now() - quietSince >= stallMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (traffic() !== seen) {
      seen = traffic();
      quietSince = Date.now();
    }
  }
  return true;
}

/** "done" once `done` settles; "stalled" once the tap has carried no frame for {@link stallMs}. */
export async function doneOrStalled(done: Promise<unknown>, tap: Tap): Promise<"done" | "stalled"> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  void done.then(mark, mark);
  return (await progressUntil(() => settled, tap)) ? "done" : "stalled";
}

/** The DATA bytes the client sent on `stream`. */
export function dataBytes(tap: Tap, stream: number): number {
  return tap.fromClient.of(frameType.data, stream).reduce((sum, frame) => sum + frame.length, 0);
}

/** True once the client sent END_STREAM on a DATA frame of `stream`. */
export function sentEnd(tap: Tap, stream: number): boolean {
  return tap.fromClient.of(frameType.data, stream).some((frame) => (frame.flags & flag.endStream) !== 0);
}
