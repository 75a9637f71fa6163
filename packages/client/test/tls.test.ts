import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, EtcdError } from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

// Each failure must come fast and clear: a bounded call proves it never hangs.
async function failsClearly(
  options: Parameters<typeof createClient>[0],
  pattern: RegExp,
): Promise<EtcdError> {
  const client = createClient({ dialTimeoutMs: 1000, ...options });
  try {
    const error = await client.get("k", { timeoutMs: 3000 }).then(
      () => assert.fail("call succeeded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof EtcdError, String(error));
    assert.notEqual(error.reason, "deadline_exceeded", `hung until the deadline: ${error.message}`);
    assert.match(error.message, pattern);
    return error;
  } finally {
    await client.close();
  }
}

describe("TLS", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd({ tls: true });
  });
  after(async () => {
    await etcd?.close();
  });

  it("talks https with the member's CA", async () => {
    const certs = etcd.certificates;
    assert.ok(certs);
    assert.match(etcd.clientUrl, /^https:/);
    await using client = createClient({ endpoints: [etcd.clientUrl], tls: { ca: certs.ca.cert } });
    await client.put("tls/k", "v");
    assert.equal(await client.getText("tls/k"), "v");
  });

  it("verifies a host name given as servername", async () => {
    const certs = etcd.certificates;
    assert.ok(certs);
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      tls: { ca: certs.ca.cert, servername: "localhost" },
    });
    assert.equal(await client.exists("tls/none"), false);
  });

  it("rejects a wrong CA without falling back to plaintext", async () => {
    const certs = etcd.certificates;
    assert.ok(certs);
    await failsClearly(
      { endpoints: [etcd.clientUrl], tls: { ca: certs.otherCa.cert } },
      /certificate|self.signed|verify/i,
    );
  });

  it("rejects a wrong host name", async () => {
    const certs = etcd.certificates;
    assert.ok(certs);
    await failsClearly(
      { endpoints: [etcd.clientUrl], tls: { ca: certs.ca.cert, servername: "wrong.example" } },
      /altname|host ?name|does not match|wrong\.example/i,
    );
  });

  it("plaintext to a TLS port fails clearly", async () => {
    const error = await failsClearly(
      { endpoints: [etcd.clientUrl.replace("https:", "http:")] },
      /not an etcd gRPC server|protocol|connect|closed/i,
    );
    assert.notEqual(error.reason, "unknown");
  });
});

describe("mutual TLS", integrationOptions(), () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd({ tls: { clientCertAuth: true } });
  });
  after(async () => {
    await etcd?.close();
  });

  it("works with a client certificate", async () => {
    const certs = etcd.certificates;
    assert.ok(certs);
    await using client = createClient({
      endpoints: [etcd.clientUrl],
      tls: { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key },
    });
    await client.put("mtls/k", "v");
    assert.equal(await client.getText("mtls/k"), "v");
  });

  it("fails clearly without a client certificate", async () => {
    const certs = etcd.certificates;
    assert.ok(certs);
    await failsClearly(
      { endpoints: [etcd.clientUrl], tls: { ca: certs.ca.cert } },
      /certificate|handshake|alert|closed/i,
    );
  });

  it("fails clearly with an expired client certificate", async () => {
    const certs = etcd.certificates;
    assert.ok(certs);
    await failsClearly(
      {
        endpoints: [etcd.clientUrl],
        tls: { ca: certs.ca.cert, cert: certs.expiredClient.cert, key: certs.expiredClient.key },
      },
      /certificate|expired|handshake|alert|closed/i,
    );
  });
});
