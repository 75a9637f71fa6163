import { join } from "node:path";
import { describeReadmeExamples, startEtcd } from "@etcd-connect/testing";

// The TLS example needs an https member and its CA besides the plain one.
describeReadmeExamples({
  packageDir: join(import.meta.dirname, ".."),
  minExamples: 6,
  async setup() {
    const [etcd, tlsEtcd] = await Promise.all([startEtcd(), startEtcd({ tls: true })]);
    return {
      env: {
        ETCD_ENDPOINTS: etcd.clientUrl,
        ETCD_TLS_ENDPOINTS: tlsEtcd.clientUrl,
        ETCD_CA: tlsEtcd.certificates?.ca.cert ?? "",
      },
      close: async () => {
        await Promise.all([etcd.close(), tlsEtcd.close()]);
      },
    };
  },
});
