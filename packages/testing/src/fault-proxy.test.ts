import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createFaultProxy, type FaultProxy } from "./fault-proxy.js";

/** Polls `condition` every 10 ms until it holds; fails after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves when `socket` closes, whatever the reason (events.once would reject on "error"). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once("close", () => resolve());
  });
}

/** A client socket that collects what it receives. */
async function client(proxy: FaultProxy): Promise<{ socket: Socket; received: () => string }> {
  const socket = connect({ host: "127.0.0.1", port: proxy.port });
  socket.on("error", () => undefined);
  let text = "";
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  await once(socket, "connect");
  return { socket, received: () => text };
}

describe("FaultProxy", () => {
  let echo: Server;
  let proxy: FaultProxy;
  const sockets: Socket[] = [];

  before(async () => {
    echo = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.pipe(socket);
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    const address = echo.address();
    assert(address !== null && typeof address === "object");
    proxy = await createFaultProxy({
      target: { host: "127.0.0.1", port: address.port },
      classify: (head) => /^label=(\w+);/.exec(head.toString())?.[1],
    });
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await proxy.close();
    echo.close();
  });

  async function open() {
    const c = await client(proxy);
    sockets.push(c.socket);
    return c;
  }

  it("passes bytes through both ways and counts connections", async () => {
    const c = await open();
    c.socket.write("hello");
    await until(() => c.received() === "hello", "echo");
    assert.ok(proxy.connections >= 1);
    assert.equal(proxy.address, `127.0.0.1:${proxy.port}`);
  });

  it("black-holes existing and new connections without closing them; heal passes later bytes", async () => {
    const existing = await open();
    proxy.blackhole();
    const fresh = await open();
    const dropped = proxy.droppedBytes;
    existing.socket.write("lost-1");
    fresh.socket.write("lost-2");
    await until(() => proxy.droppedBytes === dropped + 12, "bytes dropped");
    proxy.heal();
    existing.socket.write("kept-1");
    fresh.socket.write("kept-2");
    await until(() => existing.received() === "kept-1" && fresh.received() === "kept-2", "bytes after heal");
    assert.equal(existing.socket.destroyed, false);
    assert.equal(fresh.socket.destroyed, false);
  });

  it("black-holes only connections with a given label", async () => {
    const a = await open();
    const b = await open();
    a.socket.write("label=a;");
    b.socket.write("label=b;");
    await until(() => a.received() === "label=a;" && b.received() === "label=b;", "labels echoed");
    proxy.blackhole({ label: "a" });
    a.socket.write("lost");
    b.socket.write("kept");
    await until(() => b.received() === "label=b;kept", "unlabelled traffic");
    proxy.heal();
    a.socket.write("back");
    await until(() => a.received() === "label=a;back", "labelled traffic after heal");
  });

  it("labels a new connection before its first bytes pass", async () => {
    proxy.blackhole({ label: "c" });
    const c = await open();
    c.socket.write("label=c;first");
    const d = await open();
    d.socket.write("label=d;");
    await until(() => d.received() === "label=d;", "other label passes");
    proxy.heal();
    c.socket.write("second");
    await until(() => c.received() === "second", "bytes after heal");
  });

  it("heal({ resetBlackholed }) resets connections that lost bytes", async () => {
    const c = await open();
    const quiet = await open();
    proxy.blackhole();
    const dropped = proxy.droppedBytes;
    c.socket.write("dropped");
    await until(() => proxy.droppedBytes === dropped + 7, "bytes dropped");
    proxy.heal({ resetBlackholed: true });
    await closed(c.socket);
    quiet.socket.write("alive");
    await until(() => quiet.received() === "alive", "untouched connection");
  });

  it("reset() destroys current connections and accepts new ones", async () => {
    const c = await open();
    c.socket.write("x");
    await until(() => c.received() === "x", "echo");
    const gone = closed(c.socket);
    proxy.reset();
    await gone;
    await until(() => proxy.connections === 0, "no connections");
    const next = await open();
    next.socket.write("y");
    await until(() => next.received() === "y", "new connection works");
  });

  it("delay() keeps order across many chunks", async () => {
    const c = await open();
    proxy.delay(5);
    assert.equal(proxy.delayMs, 5);
    let expected = "";
    for (let i = 0; i < 50; i++) {
      const chunk = `<${i}>`;
      expected += chunk;
      c.socket.write(chunk);
    }
    await until(() => c.received() === expected, "all chunks in order");
    proxy.heal();
    assert.equal(proxy.delayMs, 0);
    assert.throws(() => proxy.delay(-1), RangeError);
  });

  it("closes the client side when the target refuses", async () => {
    const refusing = createServer();
    refusing.listen(0, "127.0.0.1");
    await once(refusing, "listening");
    const address = refusing.address();
    assert(address !== null && typeof address === "object");
    await new Promise((resolve) => refusing.close(resolve));
    const dead = await createFaultProxy({ target: { host: "127.0.0.1", port: address.port } });
    try {
      const c = await client(dead);
      await closed(c.socket);
      assert.equal(dead.connections, 0);
    } finally {
      await dead.close();
    }
  });

  it("close() stops listening", async () => {
    const extra = await createFaultProxy({ target: proxy.target });
    const c = await client(extra);
    const gone = closed(c.socket);
    await extra.close();
    await gone;
    const refused = connect({ host: "127.0.0.1", port: extra.port });
    const [error] = (await once(refused, "error")) as [NodeJS.ErrnoException];
    assert.equal(error.code, "ECONNREFUSED");
  });
});
