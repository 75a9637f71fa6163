import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createTestCertificates,
  type EtcdMember,
  integrationOptions,
  requestJson,
  startEtcd,
  type TestCertificates,
} from "@etcd-connect/testing";
import { eventually, get, put } from "./support.js";

describe("TLS", integrationOptions(), () => {
  let certificates: TestCertificates;
  let serverOnly: EtcdMember;
  let mutual: EtcdMember;

  before(async () => {
    certificates = await createTestCertificates();
    [serverOnly, mutual] = await Promise.all([
      startEtcd({ tls: true, faults: true }),
      startEtcd({ tls: { clientCertAuth: true, certificates } }),
    ]);
  });

  after(async () => {
    await Promise.all([serverOnly?.close(), mutual?.close()]);
    await certificates?.remove();
  });

  it("creates a CA, server, client, expired and wrong-CA certificates", () => {
    for (const files of [
      certificates.ca,
      certificates.server,
      certificates.client,
      certificates.expiredClient,
      certificates.otherCa,
      certificates.otherCaClient,
    ]) {
      assert.match(files.cert, /^-----BEGIN CERTIFICATE-----/);
      assert.match(files.key, /PRIVATE KEY-----/);
    }
  });

  it("serves https with generated certificates, also through the fault proxy", async () => {
    assert.match(serverOnly.clientUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(serverOnly.clientUrl, serverOnly.directClientUrl);
    const ca = serverOnly.certificates?.ca.cert ?? "";
    assert.deepEqual(serverOnly.clientTls, { ca });
    for (const url of [serverOnly.clientUrl, serverOnly.directClientUrl]) {
      assert.deepEqual(await requestJson(`${url}/health`, { method: "GET", tls: { ca } }), {
        health: "true",
      });
    }
    await put(serverOnly.clientUrl, "secure", "yes", { tls: { ca } });
    assert.equal(await get(serverOnly.clientUrl, "secure", { tls: { ca } }), "yes");
  });

  it("rejects a client that does not trust the test CA", async () => {
    await assert.rejects(
      requestJson(`${serverOnly.clientUrl}/health`, { method: "GET" }),
      /self[- ]signed|unable to verify/i,
    );
  });

  it("with clientCertAuth, answers a client certificate from the test CA", async () => {
    assert.equal(mutual.certificates, certificates);
    const tls = { ca: certificates.ca.cert, cert: certificates.client.cert, key: certificates.client.key };
    assert.deepEqual(mutual.clientTls, tls);
    assert.deepEqual(await requestJson(`${mutual.clientUrl}/health`, { method: "GET", tls }), {
      health: "true",
    });
  });

  it("with clientCertAuth, refuses no, expired and wrong-CA client certificates", async () => {
    const health = `${mutual.clientUrl}/health`;
    const ca = certificates.ca.cert;
    await assert.rejects(requestJson(health, { method: "GET", tls: { ca } }));
    for (const identity of [certificates.expiredClient, certificates.otherCaClient]) {
      await assert.rejects(
        requestJson(health, { method: "GET", tls: { ca, cert: identity.cert, key: identity.key } }),
      );
    }
    // etcd logs why it rejected each handshake.
    const log = await eventually(async () => {
      const tail = mutual.logTail();
      return tail.includes("signed by unknown authority") ? tail : undefined;
    }, "rejections in the log");
    assert.match(log, /client didn't provide a certificate/);
    assert.match(log, /certificate has expired/);
  });
});
