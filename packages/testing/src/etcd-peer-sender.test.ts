import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { etcdPeerSender } from "./etcd-peer-sender.js";

describe("etcdPeerSender", () => {
  const request = (headers: string) =>
    Buffer.from(`GET /raft/stream/msgapp/1 HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);

  it("reads X-Server-From as lowercase hex, whatever the header case", () => {
    assert.equal(etcdPeerSender(request("X-Server-From: 8E9E05C52164694D\r\n")), "8e9e05c52164694d");
    assert.equal(etcdPeerSender(request("x-server-from: abc\r\nX-Raft-To: 1\r\n")), "abc");
  });

  it("waits for the whole header line", () => {
    assert.equal(etcdPeerSender(Buffer.from("POST /raft HTTP/1.1\r\nX-Server-From: 8e9e")), undefined);
  });

  it("finds no sender in requests without the header", () => {
    assert.equal(etcdPeerSender(request("X-Etcd-Cluster-Id: 1\r\n")), undefined);
  });
});
