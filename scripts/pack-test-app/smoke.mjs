// Loads every package with `import`, as an ES module app does, and runs the shared checks against
// the etcd whose URL is the first argument.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import * as connect from "@connectrpc/connect";
import * as api from "@etcd-connect/api/etcdserverpb";
import * as mvccpb from "@etcd-connect/api/mvccpb";
import * as client from "@etcd-connect/client";
import * as concurrency from "@etcd-connect/concurrency";
import * as discovery from "@etcd-connect/discovery";
import * as namespace from "@etcd-connect/namespace";
import * as prometheus from "@etcd-connect/prometheus";
import * as testing from "@etcd-connect/testing";
import * as transport from "@etcd-connect/transport";
import * as promClient from "prom-client";
import checks from "./smoke-checks.cjs";

const failures = await checks.runChecks({
  format: "esm",
  endpoint: process.argv[2],
  resolveEntry: (name) => fileURLToPath(import.meta.resolve(name)),
  loadOtherClient: async () => createRequire(import.meta.url)("@etcd-connect/client"),
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
});
process.exitCode = failures > 0 ? 1 : 0;
