// Loads every package with `require`, as a CommonJS app does, and runs the shared checks against
// the etcd whose URL is the first argument.
const connect = require("@connectrpc/connect");
const api = require("@etcd-connect/api/etcdserverpb");
const mvccpb = require("@etcd-connect/api/mvccpb");
const client = require("@etcd-connect/client");
const concurrency = require("@etcd-connect/concurrency");
const discovery = require("@etcd-connect/discovery");
const namespace = require("@etcd-connect/namespace");
const prometheus = require("@etcd-connect/prometheus");
const testing = require("@etcd-connect/testing");
const transport = require("@etcd-connect/transport");
const promClient = require("prom-client");
const { runChecks } = require("./smoke-checks.cjs");

runChecks({
  format: "cjs",
  endpoint: process.argv[2],
  resolveEntry: (name) => require.resolve(name),
  loadOtherClient: () => import("@etcd-connect/client"),
  packages: {
    api,
    client,
    concurrency,
    discovery,
    connect,
    mvccpb,
    namespace,
    prometheus,
    promClient,
    testing,
    transport,
  },
}).then(
  (failures) => {
    process.exitCode = failures > 0 ? 1 : 0;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
