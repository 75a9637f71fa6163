import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { EtcdNotFoundError, etcdSkipReason, findEtcd, integrationOptions } from "./find-etcd.js";

describe("findEtcd", () => {
  let saved: NodeJS.ProcessEnv;
  beforeEach(() => {
    saved = { ...process.env };
  });
  afterEach(() => {
    process.env = saved;
  });

  it("uses ETCD_BIN when it is executable", () => {
    process.env.ETCD_BIN = "/bin/sh";
    assert.equal(findEtcd(), "/bin/sh");
  });

  it("names apt-get install etcd-server and ETCD_BIN when ETCD_BIN is missing", () => {
    process.env.ETCD_BIN = "/nonexistent/etcd";
    assert.throws(findEtcd, (error: unknown) => {
      assert.ok(error instanceof EtcdNotFoundError);
      assert.equal(error.code, "ERR_ETCD_NOT_FOUND");
      assert.match(error.message, /apt-get install etcd-server/);
      assert.match(error.message, /ETCD_BIN/);
      return true;
    });
  });

  it("searches PATH when ETCD_BIN is unset", () => {
    delete process.env.ETCD_BIN;
    process.env.PATH = "/nonexistent-dir";
    assert.throws(findEtcd, /etcd was not found on PATH/);
  });

  it("gives a skip reason, or throws under ETCD_REQUIRED=1", () => {
    process.env.ETCD_BIN = "/nonexistent/etcd";
    delete process.env.ETCD_REQUIRED;
    assert.match(etcdSkipReason() ?? "", /apt-get install etcd-server/);
    assert.equal(integrationOptions().skip, etcdSkipReason());
    process.env.ETCD_REQUIRED = "1";
    assert.throws(etcdSkipReason, /ETCD_REQUIRED=1/);
    assert.throws(integrationOptions, EtcdNotFoundError);
  });

  it("has no skip reason when etcd is found", () => {
    process.env.ETCD_BIN = "/bin/sh";
    assert.equal(etcdSkipReason(), undefined);
    assert.deepEqual(integrationOptions(), {});
  });
});
