import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import * as net from "node:net";
import { describe, it } from "node:test";
import * as tls from "node:tls";
import { createTestCertificates } from "@etcd-connect/testing";
import { ReadSlab, readsIntoSlabs } from "./read-slab.js";

// A ReadSlab's promise: a view into a read stays valid after any number of later reads (a region
// is never written twice, across slab changes too), over TCP and over TLS (tls.connect honours
// onread). A local server sends the bytes: this is Node's socket contract, not etcd's.

const limits = { timeout: 30_000 };

// Chunks of 1 byte to 40 KiB, written with pauses now and then so reads come both alone and
// coalesced, and large enough in total (about 3.5 MB) to cross many slabs.
function chunks(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 200; i++) out.push(randomBytes(i % 10 === 0 ? 1 + (i % 7) : (i * 997) % (40 << 10)));
  return out;
}

async function send(socket: net.Socket, parts: readonly Buffer[]): Promise<void> {
  for (const [i, part] of parts.entries()) {
    socket.write(part);
    if (i % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  socket.end();
}

// Reads everything a socket opened with `reads` delivers, keeping every view until the end.
async function readAll(socket: net.Socket, reads: ReadSlab): Promise<Buffer[]> {
  const views: Buffer[] = [];
  reads.deliverTo((chunk) => views.push(chunk));
  socket.on("data", () => assert.fail("a 'data' event on a socket that reads into slabs"));
  await once(socket, "close");
  return views;
}

function checkViews(views: readonly Buffer[], parts: readonly Buffer[]): void {
  assert.deepEqual(Buffer.concat(views), Buffer.concat(parts));
  for (const view of views) assert.ok(view.byteLength <= 64 << 10, `a read of ${view.byteLength} bytes`);
  assert.ok(new Set(views.map((view) => view.buffer)).size > 1, "all reads landed in one slab");
}

describe("ReadSlab", () => {
  it("is used on Node", () => {
    assert.equal(readsIntoSlabs, true);
  });

  it("keeps every read's bytes intact across later reads and slabs (TCP)", limits, async (t) => {
    const parts = chunks();
    const server = net.createServer((socket) => void send(socket, parts));
    t.after(() => server.close());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const reads = new ReadSlab();
    const { port } = server.address() as net.AddressInfo;
    const socket = net.connect({ host: "127.0.0.1", port, onread: reads.onread });
    checkViews(await readAll(socket, reads), parts);
  });

  it("keeps every read's bytes intact across later reads and slabs (TLS)", limits, async (t) => {
    const certs = await createTestCertificates();
    t.after(() => certs.remove());
    const parts = chunks();
    const server = tls.createServer({ cert: certs.server.cert, key: certs.server.key }, (socket) => {
      void send(socket, parts);
    });
    t.after(() => server.close());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const reads = new ReadSlab();
    const { port } = server.address() as net.AddressInfo;
    // tls.connect documents onread; @types/node does not declare it.
    const options: tls.ConnectionOptions & { onread: net.OnReadOpts } = {
      host: "127.0.0.1",
      port,
      ca: certs.ca.cert,
      onread: reads.onread,
    };
    const socket = tls.connect(options);
    checkViews(await readAll(socket, reads), parts);
  });
});
