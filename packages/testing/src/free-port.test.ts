import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { freePort, reservePorts, waitForPortFree } from "./free-port.js";

describe("free ports", () => {
  it("freePort returns a port that can be bound", async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
    const server = createServer().listen(port, "127.0.0.1");
    await once(server, "listening");
    server.close();
  });

  it("reservePorts holds distinct ports until released", async () => {
    const reservation = await reservePorts(4);
    assert.equal(new Set(reservation.ports).size, 4);
    const [held] = reservation.ports;
    assert.ok(held !== undefined);
    await assert.rejects(waitForPortFree(held, "127.0.0.1", 100), /still in use/);
    await reservation.release();
    await waitForPortFree(held, "127.0.0.1", 1000);
  });
});
