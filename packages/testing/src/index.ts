/**
 * Real etcd members and clusters, with faults, for tests.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/testing
 */

export { type ClusterWaitOptions, EtcdCluster } from "./cluster.js";
export {
  describeReadmeExamples,
  type ExampleEnvironment,
  type ReadmeExamplesOptions,
} from "./describe-readme-examples.js";
export { type EnableAuthOptions, enableAuth } from "./enable-auth.js";
export type { ClusterOptions, EtcdOptions, TlsOptions } from "./etcd-options.js";
export { EtcdStartError } from "./etcd-start-error.js";
export {
  type BlackholeOptions,
  createFaultProxy,
  FaultProxy,
  type FaultProxyOptions,
  type HealOptions,
} from "./fault-proxy.js";
export { EtcdNotFoundError, etcdSkipReason, findEtcd, integrationOptions } from "./find-etcd.js";
export { freePort } from "./free-port.js";
export { buildGoProgram, debianGopath, type GoProgramOptions } from "./go-program.js";
export { EtcdMember, type RestartOptions, type WaitHealthyOptions } from "./member.js";
export {
  type ExampleResult,
  type MarkdownExample,
  type RunExampleOptions,
  readmeExamples,
  runExample,
} from "./readme-examples.js";
export {
  type ClientTls,
  type MemberStatus,
  type RequestJsonOptions,
  requestJson,
} from "./request-json.js";
export { startCluster } from "./start-cluster.js";
export { startEtcd } from "./start-etcd.js";
export { type CertificateFiles, createTestCertificates, type TestCertificates } from "./test-certificates.js";
