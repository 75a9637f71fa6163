// A stream answer that cannot be decoded (a field with an invalid wire type) ends its stream
// with Internal: a read that waits for it is rejected, never left pending, and no message that
// came after it is handed out, while those before it still are. Both kinds of stream are
// covered: answers whose decoded form holds views of their bytes (Watch, keys and values) wait
// as bytes; the others (LeaseKeepAlive) are decoded as they arrive.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  create,
  type DescMessage,
  type DescMethodBiDiStreaming,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import {
  Lease,
  LeaseKeepAliveRequestSchema,
  LeaseKeepAliveResponseSchema,
  Watch,
  WatchRequestSchema,
  type WatchResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import { createGrpcTransport } from "@etcd-connect/transport";
import { data } from "./frames.js";
import { envelope, watchResponse } from "./grpc.js";
import { type PeerStream, RawPeer, sleep, waitUntil } from "./raw-peer.js";
import { limits } from "./scenario.js";

/** Field 1 with wire type 7, which does not exist: no decoder takes it. */
const undecodable = envelope(Uint8Array.of(0x0f, 0x01));

// Requests that stay open: the first one, then nothing until the signal aborts.
async function* holdOpen<T>(signal: AbortSignal, first: T): AsyncGenerator<T> {
  yield first;
  await new Promise((resolve) => signal.addEventListener("abort", resolve));
}

interface Kind {
  name: string;
  /** Opens the stream on the transport itself (no Connect client around its messages). */
  open(transport: Transport, signal: AbortSignal): Promise<AsyncIterator<unknown>>;
  /** Answer `n` of the stream, enveloped. */
  answer(n: number): Buffer;
  /** Which answer a decoded message is. */
  numberOf(message: unknown): number;
}

async function openStream<I extends DescMessage, O extends DescMessage>(
  transport: Transport,
  method: DescMethodBiDiStreaming<I, O>,
  first: MessageShape<I>,
  signal: AbortSignal,
): Promise<AsyncIterator<unknown>> {
  const response = await transport.stream(method, signal, undefined, undefined, holdOpen(signal, first));
  return response.message[Symbol.asyncIterator]();
}

function enveloped<Desc extends DescMessage>(desc: Desc, message: MessageShape<Desc>): Buffer {
  return envelope(toBinary(desc, message));
}

const kinds: Kind[] = [
  {
    name: "a keepalive stream (decoded on arrival)",
    open: (transport, signal) =>
      openStream(
        transport,
        Lease.method.leaseKeepAlive,
        create(LeaseKeepAliveRequestSchema, { ID: 1n }),
        signal,
      ),
    answer: (n) =>
      enveloped(
        LeaseKeepAliveResponseSchema,
        create(LeaseKeepAliveResponseSchema, { ID: BigInt(n), TTL: 10n }),
      ),
    numberOf: (message) => Number((message as MessageShape<typeof LeaseKeepAliveResponseSchema>).ID),
  },
  {
    name: "a watch stream (kept as bytes until read)",
    open: (transport, signal) =>
      openStream(
        transport,
        Watch.method.watch,
        create(WatchRequestSchema, { requestUnion: { case: "progressRequest", value: {} } }),
        signal,
      ),
    // The type holds views (keys, values) whatever one answer carries: its answers wait as bytes.
    answer: (n) => envelope(watchResponse({ watchId: BigInt(n) })),
    numberOf: (message) => Number((message as MessageShape<typeof WatchResponseSchema>).watchId),
  },
];

/** Runs `body` with a peer that answers the first stream's headers, and the stream opened. */
async function withStream(
  kind: Kind,
  body: (s: PeerStream, responses: AsyncIterator<unknown>) => Promise<void>,
): Promise<void> {
  let stream: PeerStream | undefined;
  const peer = await RawPeer.start({
    onStream: (s) => {
      stream = s;
      s.respond();
    },
  });
  const abort = new AbortController();
  try {
    const responses = await kind.open(
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${peer.port}` }),
      abort.signal,
    );
    await body(stream as PeerStream, responses);
    assert.deepEqual(peer.problems, []);
  } finally {
    abort.abort();
    await peer.close();
  }
}

async function rejectsInternal(read: Promise<unknown>): Promise<void> {
  await assert.rejects(
    read,
    (error: unknown) => error instanceof ConnectError && error.code === Code.Internal,
  );
}

/** The stream hands out nothing more: a read after the error ends or fails, with no answer. */
async function nothingMore(responses: AsyncIterator<unknown>): Promise<void> {
  const next = await responses.next().then(
    (result) => result,
    () => ({ done: true, value: undefined }),
  );
  assert.equal(
    next.done,
    true,
    `handed out ${JSON.stringify(next.value, (_k, v) => (typeof v === "bigint" ? `${v}` : v))}`,
  );
}

/** The client reset the stream: its server is told, not left sending. */
async function reset(s: PeerStream): Promise<void> {
  await waitUntil(() => s.conn.rsts.some((r) => r.streamId === s.id), 5000);
}

for (const kind of kinds) {
  describe(`an answer that cannot be decoded on ${kind.name}`, () => {
    it(
      "rejects the read that waits for it, and what came after it in the same frame is not handed out",
      limits,
      async () => {
        await withStream(kind, async (s, responses) => {
          const read = responses.next();
          // The read waits before the answers come.
          await sleep(50);
          s.send(data(s.id, Buffer.concat([undecodable, kind.answer(9)])));
          await rejectsInternal(read);
          await nothingMore(responses);
          await reset(s);
        });
      },
    );

    it("hands out the answers before it, then the error, never the answers after it", limits, async () => {
      await withStream(kind, async (s, responses) => {
        const first = responses.next();
        s.send(data(s.id, kind.answer(1)));
        assert.equal(kind.numberOf(((await first) as IteratorResult<unknown>).value), 1);
        // Nobody reads while these arrive: the frame's answers wait, and so does the next frame.
        s.send(
          data(s.id, Buffer.concat([kind.answer(2), undecodable, kind.answer(3)])),
          data(s.id, kind.answer(4)),
        );
        await sleep(100);
        assert.equal(kind.numberOf(((await responses.next()) as IteratorResult<unknown>).value), 2);
        await rejectsInternal(responses.next());
        await nothingMore(responses);
        await reset(s);
      });
    });
  });
}
