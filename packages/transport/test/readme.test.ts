import { join } from "node:path";
import { describeReadmeExamples } from "@etcd-connect/testing";

// Every runnable example of the README, each in its own process, against one plain etcd member
// (the default setup: its URL in ETCD_ENDPOINTS). The examples dial it with createGrpcTransport.
describeReadmeExamples({
  packageDir: join(import.meta.dirname, ".."),
  minExamples: 2,
});
