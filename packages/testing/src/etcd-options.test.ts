import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveOptions } from "./etcd-options.js";

describe("resolveOptions", () => {
  const bin = "/bin/true";

  it("fills the documented defaults", () => {
    const cluster = resolveOptions({ bin }, 3);
    assert.equal(cluster.size, 3);
    assert.equal(cluster.faults, true);
    assert.equal(cluster.heartbeatIntervalMs, 100);
    assert.equal(cluster.electionTimeoutMs, 1000);
    assert.equal(cluster.startupTimeoutMs, 20_000);
    assert.equal(cluster.logLevel, "info");
    assert.equal(cluster.logLines, 200);
    assert.equal(cluster.name, "etcd");
    assert.equal(cluster.tls, undefined);
    assert.deepEqual(cluster.extraArgs, []);
    const single = resolveOptions({ bin, size: 1 }, 1);
    assert.equal(single.faults, false);
  });

  it("keeps faults on for a cluster of one and reads TLS settings", () => {
    assert.equal(resolveOptions({ bin, size: 1 }, 3).faults, true);
    assert.deepEqual(resolveOptions({ bin, tls: true }, 1).tls, {
      clientCertAuth: false,
      certificates: undefined,
    });
    assert.deepEqual(resolveOptions({ bin, tls: { clientCertAuth: true } }, 1).tls, {
      clientCertAuth: true,
      certificates: undefined,
    });
  });

  it("rejects bad values with the option's name", () => {
    assert.throws(() => resolveOptions({ bin, size: 0 }, 3), /size must be a positive integer/);
    assert.throws(() => resolveOptions({ bin, startupTimeoutMs: 1.5 }, 1), /startupTimeoutMs/);
    assert.throws(
      () => resolveOptions({ bin, heartbeatIntervalMs: 300, electionTimeoutMs: 1000 }, 1),
      /at least 5 × heartbeatIntervalMs/,
    );
    assert.throws(() => resolveOptions({ bin, name: "a b" }, 1), /name must match/);
  });
});
