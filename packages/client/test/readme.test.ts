import { join } from "node:path";
import { describeReadmeExamples, startEtcd } from "@etcd-connect/testing";
import { startUnixEtcd } from "./unix-etcd.js";

// The TLS example needs an https member and its CA besides the plain one; the Unix socket
// example a member that serves on a socket (see unix-etcd.ts).
describeReadmeExamples({
  packageDir: join(import.meta.dirname, ".."),
  minExamples: 24,
  async setup() {
    const started = await Promise.allSettled([startEtcd(), startEtcd({ tls: true }), startUnixEtcd()]);
    const closeAll = () =>
      Promise.all(started.map((s) => (s.status === "fulfilled" ? s.value.close() : undefined)));
    const [etcd, tlsEtcd, unixEtcd] = started;
    if (etcd?.status !== "fulfilled" || tlsEtcd?.status !== "fulfilled" || unixEtcd?.status !== "fulfilled") {
      // One failed to start: the others must not outlive the test.
      await closeAll();
      throw started.find((s) => s.status === "rejected")?.reason;
    }
    return {
      env: {
        ETCD_ENDPOINTS: etcd.value.clientUrl,
        ETCD_TLS_ENDPOINTS: tlsEtcd.value.clientUrl,
        ETCD_CA: tlsEtcd.value.certificates?.ca.cert ?? "",
        ETCD_UNIX_ENDPOINT: unixEtcd.value.endpoint,
      },
      close: async () => {
        await closeAll();
      },
    };
  },
});
