import { join } from "node:path";
import { describeReadmeExamples } from "@etcd-connect/testing";

describeReadmeExamples({ packageDir: join(import.meta.dirname, ".."), minExamples: 3 });
