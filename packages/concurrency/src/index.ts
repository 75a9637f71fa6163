/**
 * Session, mutex, election, STM and Go's recipes (readers-writer lock, queues, barriers),
 * interoperable with Go's concurrency and recipe packages and etcdctl.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/concurrency
 */

export type { Barrier, BarrierCallOptions } from "./barrier.js";
export { createBarrier } from "./barrier.js";
export type { ConcurrencyErrorReason } from "./concurrency-error.js";
export { ConcurrencyError } from "./concurrency-error.js";
export type { DoubleBarrier, DoubleBarrierCallOptions } from "./double-barrier.js";
export { createDoubleBarrier } from "./double-barrier.js";
export type { Election, ElectionCallOptions } from "./election.js";
export { createElection, resumeElection } from "./election.js";
export type { Leader, ObserveOptions } from "./election-observe.js";
export { electionLeader, observeElection } from "./election-observe.js";
export type { Mutex, MutexCallOptions } from "./mutex.js";
export { createMutex } from "./mutex.js";
export type { PriorityQueue } from "./priority-queue.js";
export { createPriorityQueue, maxPriority } from "./priority-queue.js";
export type { Queue, QueueCallOptions, QueueItem } from "./queue.js";
export { createQueue } from "./queue.js";
export type { RWMutex, RWMutexCallOptions } from "./rw-mutex.js";
export { createRWMutex } from "./rw-mutex.js";
export type { EtcdLike, Session, SessionEnd, SessionOptions } from "./session.js";
export { createSession } from "./session.js";
export type { Isolation, STM, STMOptions, STMResult } from "./stm.js";
export { runSTM } from "./stm.js";
export type { LockedFn, WithLockOptions } from "./with-lock.js";
export { withLock } from "./with-lock.js";
