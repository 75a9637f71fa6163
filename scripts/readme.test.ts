// The root README's example, run against a real etcd as the packages' examples are.
import { resolve } from "node:path";
import { describeReadmeExamples } from "@etcd-connect/testing";

describeReadmeExamples({ packageDir: resolve(import.meta.dirname, ".."), minExamples: 1 });
