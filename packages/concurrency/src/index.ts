/**
 * Session, mutex, election and STM, interoperable with Go's concurrency package and etcdctl.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/concurrency
 */

export type { ConcurrencyErrorReason } from "./concurrency-error.js";
export { ConcurrencyError } from "./concurrency-error.js";
export type { Election, ElectionCallOptions } from "./election.js";
export { createElection } from "./election.js";
export type { Leader, ObserveOptions } from "./election-observe.js";
export { electionLeader, observeElection } from "./election-observe.js";
export type { Mutex, MutexCallOptions } from "./mutex.js";
export { createMutex } from "./mutex.js";
export type { EtcdLike, Session, SessionEnd, SessionOptions } from "./session.js";
export { createSession } from "./session.js";
export type { Isolation, STM, STMOptions, STMResult } from "./stm.js";
export { runSTM } from "./stm.js";
