import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AlarmMemberSchema,
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  AlarmResponseSchema,
  AlarmType,
  ResponseHeaderSchema,
  type SnapshotResponse,
  SnapshotResponseSchema,
  StatusResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import type { CallOptions } from "../call-options.js";
import { EtcdError } from "../errors.js";
import type { RpcClients, RpcRouting } from "../rpc-clients.js";
import { createMaintenance } from "./maintenance.js";
import { SnapshotVerifier } from "./snapshot.js";

// A database followed by its sha256, as etcd streams a snapshot.
function snapshotBytes(size: number): Uint8Array {
  const db = new Uint8Array(size).map((_, i) => (i * 31 + 7) % 251);
  const out = new Uint8Array(size + 32);
  out.set(db);
  out.set(createHash("sha256").update(db).digest(), size);
  return out;
}

function chunksOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function verify(chunks: Uint8Array[]): void {
  const verifier = new SnapshotVerifier();
  for (const chunk of chunks) verifier.update(chunk);
  verifier.verify();
}

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

// Stand-ins for the generated clients: only the methods a test calls, the rest left undefined.
type MaintenanceFake = Partial<Record<keyof RpcClients["maintenance"], unknown>>;
function clients(maintenance: MaintenanceFake): RpcClients {
  return { maintenance } as unknown as RpcClients;
}
function deps(maintenance: MaintenanceFake, perEndpoint: Record<string, MaintenanceFake> = {}): RpcRouting {
  return {
    rpc: clients(maintenance),
    rpcAt: (endpoint) => clients(perEndpoint[endpoint] ?? assert.fail(`no fake for ${endpoint}`)),
    endpoints: () => Object.keys(perEndpoint),
  };
}

// A snapshot stream of these messages; records the signal it was opened with. Its Status
// (which snapshotToFile asks first, for the member's version) says etcd 3.4.23, member 7.
function snapshotFake(messages: SnapshotResponse[], opened: { signal?: AbortSignal | undefined }[]) {
  return {
    status: async () =>
      create(StatusResponseSchema, {
        version: "3.4.23",
        header: create(ResponseHeaderSchema, { memberId: 7n }),
      }),
    snapshot(_request: unknown, options: CallOptions) {
      opened.push({ signal: options.signal });
      return (async function* () {
        yield* messages;
      })();
    },
  };
}

const blobMessages = (chunks: Uint8Array[]) =>
  chunks.map((blob, i) =>
    create(SnapshotResponseSchema, { blob, remainingBytes: BigInt((chunks.length - 1 - i) * 100) }),
  );

describe("SnapshotVerifier", () => {
  const good = snapshotBytes(5000);
  for (const size of [1, 7, 31, 32, 33, 1024, 5000, 5032]) {
    it(`accepts a valid snapshot in chunks of ${size} bytes`, () => {
      assert.doesNotThrow(() => verify(chunksOf(good, size)));
    });
  }

  it("accepts a trailer that arrives as its own chunk, as etcd sends it", () => {
    assert.doesNotThrow(() => verify([good.subarray(0, 5000), good.subarray(5000)]));
  });

  it("rejects a flipped byte in the database, with reason corrupt", () => {
    const bad = good.slice();
    bad[1234] = (bad[1234] ?? 0) ^ 0x01;
    assert.throws(
      () => verify(chunksOf(bad, 1000)),
      (error: unknown) =>
        EtcdError.is(error, "corrupt") &&
        error.code === Code.DataLoss &&
        /checksum mismatch/.test(error.message),
    );
  });

  it("rejects a flipped byte in the trailer", () => {
    const bad = good.slice();
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0x80;
    assert.throws(() => verify([bad]), /checksum mismatch/);
  });

  it("rejects a truncated snapshot (the last chunk lost)", () => {
    assert.throws(() => verify(chunksOf(good, 1024).slice(0, -1)), /checksum mismatch/);
  });

  it("rejects a snapshot too short to hold a trailer", () => {
    assert.throws(() => verify([good.subarray(0, 32)]), /too short/);
    assert.throws(() => verify([]), /too short/);
  });
});

describe("maintenance.snapshot", () => {
  it("yields the blobs in order, trailer included", async () => {
    const bytes = snapshotBytes(300);
    const opened: { signal?: AbortSignal | undefined }[] = [];
    const m = createMaintenance(deps(snapshotFake(blobMessages(chunksOf(bytes, 100)), opened)));
    const got: number[] = [];
    for await (const chunk of m.snapshot()) got.push(...chunk);
    assert.deepEqual(got, [...bytes]);
    assert.equal(opened.length, 1);
  });

  it("aborts the stream when the consumer breaks out early", async () => {
    const opened: { signal?: AbortSignal | undefined }[] = [];
    // Endless, like a large snapshot: only an abort ends it.
    const endless = {
      snapshot(_request: unknown, options: CallOptions) {
        opened.push({ signal: options.signal });
        return (async function* () {
          for (;;) yield create(SnapshotResponseSchema, { blob: new Uint8Array(8), remainingBytes: 1n });
        })();
      },
    };
    const m = createMaintenance(deps(endless));
    let chunks = 0;
    for await (const _ of m.snapshot()) if (++chunks === 3) break;
    assert.equal(chunks, 3);
    assert.equal(opened[0]?.signal?.aborted, true);
  });

  it("turns a stream failure into an EtcdError with etcd's reason", async () => {
    const failing = {
      snapshot: () =>
        (async function* () {
          yield create(SnapshotResponseSchema, { blob: new Uint8Array(4) });
          throw new ConnectError("etcdserver: server stopped", Code.Unavailable);
        })(),
    };
    const m = createMaintenance(deps(failing));
    const consume = async () => {
      for await (const _ of m.snapshot());
    };
    assert.equal((await failure(consume())).reason, "stopped");
  });

  it("the caller's signal cancels the stream", async () => {
    const caller = new AbortController();
    const opened: { signal?: AbortSignal | undefined }[] = [];
    const endless = {
      snapshot(_request: unknown, options: CallOptions) {
        opened.push({ signal: options.signal });
        return (async function* () {
          for (;;) {
            options.signal?.throwIfAborted();
            yield create(SnapshotResponseSchema, { blob: new Uint8Array(8) });
          }
        })();
      },
    };
    const m = createMaintenance(deps(endless));
    let chunks = 0;
    const consume = async () => {
      for await (const _ of m.snapshot({ signal: caller.signal })) {
        if (++chunks < 2) continue;
        assert.equal(opened[0]?.signal?.aborted, false);
        caller.abort();
        assert.equal(opened[0]?.signal?.aborted, true, "the caller's abort reaches the stream at once");
      }
    };
    assert.equal((await failure(consume())).reason, "canceled");
    assert.equal(chunks, 2);
  });
});

describe("maintenance.snapshotToFile", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "etcd-connect-snapshot-unit-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("writes a verified snapshot and reports progress", async () => {
    const bytes = snapshotBytes(1000);
    const m = createMaintenance(deps(snapshotFake(blobMessages(chunksOf(bytes, 256)), [])));
    const progress: number[] = [];
    const path = join(dir, "good.db");
    const saved = await m.snapshotToFile(path, { onProgress: (p) => progress.push(p.receivedBytes) });
    assert.deepEqual(saved, {
      size: bytes.length,
      version: "3.4.23",
      storageVersion: undefined,
      memberId: 7n,
    });
    assert.deepEqual(new Uint8Array(await readFile(path)), bytes);
    assert.deepEqual(progress, [256, 512, 768, 1024, 1032]);
    assert.deepEqual(await readdir(dir), ["good.db"], "no temporary file left");
  });

  it("reports the storage version when the stream states one (newer etcd), else none", async () => {
    const bytes = snapshotBytes(600);
    const messages = blobMessages(chunksOf(bytes, 256)).map((message) =>
      create(SnapshotResponseSchema, { ...message, version: "3.6.0" }),
    );
    const m = createMaintenance(deps(snapshotFake(messages, [])));
    const saved = await m.snapshotToFile(join(dir, "versioned.db"));
    assert.equal(saved.storageVersion, "3.6.0");
    assert.equal(saved.version, "3.4.23");
  });

  it("says so when the member's Status fails, and creates no file", async () => {
    const opened: { signal?: AbortSignal | undefined }[] = [];
    const m = createMaintenance(
      deps({
        ...snapshotFake([], opened),
        status: async () => {
          throw new ConnectError("etcdserver: request timed out", Code.Unavailable);
        },
      }),
    );
    const error = await failure(m.snapshotToFile(join(dir, "no-status.db")));
    assert.match(error.message, /snapshotToFile failed asking the member for its version/);
    assert.equal(opened.length, 0, "no snapshot stream was opened");
    assert.ok(!(await readdir(dir)).some((name) => name.includes("no-status.db")));
  });

  it("rejects a corrupted stream: no file at the path, no temporary file left", async () => {
    const bytes = snapshotBytes(1000);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    const m = createMaintenance(deps(snapshotFake(blobMessages(chunksOf(bytes, 256)), [])));
    const error = await failure(m.snapshotToFile(join(dir, "corrupt.db")));
    assert.equal(error.reason, "corrupt");
    assert.match(error.message, /snapshotToFile failed verifying the checksum: snapshot checksum mismatch/);
    assert.ok(!(await readdir(dir)).some((name) => name.includes("corrupt.db")));
  });

  it("removes the temporary file and closes the stream when onProgress throws", async () => {
    const opened: { signal?: AbortSignal | undefined }[] = [];
    const m = createMaintenance(deps(snapshotFake(blobMessages(chunksOf(snapshotBytes(1000), 256)), opened)));
    const error = await failure(
      m.snapshotToFile(join(dir, "progress.db"), {
        onProgress: () => {
          throw new Error("disk quota check failed");
        },
      }),
    );
    assert.match(error.message, /onProgress threw.*disk quota check failed/);
    assert.equal(opened[0]?.signal?.aborted, true);
    assert.ok(!(await readdir(dir)).some((name) => name.includes("progress.db")));
  });

  it("says which step failed when the directory does not exist", async () => {
    const m = createMaintenance(deps(snapshotFake([], [])));
    const error = await failure(m.snapshotToFile(join(dir, "missing", "x.db")));
    assert.match(error.message, /snapshotToFile failed creating .*ENOENT/);
  });

  it("refuses an empty path before sending anything", async () => {
    const opened: { signal?: AbortSignal | undefined }[] = [];
    const m = createMaintenance(deps(snapshotFake([], opened)));
    assert.equal((await failure(m.snapshotToFile(""))).reason, "invalid_argument");
    assert.equal(opened.length, 0);
  });
});

describe("maintenance alarms, moveLeader and downgrade (fakes)", () => {
  const header = (memberId: bigint) => create(ResponseHeaderSchema, { memberId });

  it("alarmDisarm without a target clears each active alarm in turn", async () => {
    const requests: AlarmRequest[] = [];
    const active = [
      create(AlarmMemberSchema, { memberID: 11n, alarm: AlarmType.NOSPACE }),
      create(AlarmMemberSchema, { memberID: 12n, alarm: AlarmType.CORRUPT }),
    ];
    const m = createMaintenance(
      deps({
        alarm: async (request: AlarmRequest) => {
          requests.push(request);
          if (request.action === AlarmRequest_AlarmAction.GET)
            return create(AlarmResponseSchema, { alarms: active });
          return create(AlarmResponseSchema, {
            alarms: active.filter((a) => a.memberID === request.memberID && a.alarm === request.alarm),
          });
        },
      }),
    );
    const res = await m.alarmDisarm();
    assert.deepEqual(
      requests.map((r) => [r.action, r.memberID, r.alarm]),
      [
        [AlarmRequest_AlarmAction.GET, 0n, AlarmType.NONE],
        [AlarmRequest_AlarmAction.DEACTIVATE, 11n, AlarmType.NOSPACE],
        [AlarmRequest_AlarmAction.DEACTIVATE, 12n, AlarmType.CORRUPT],
      ],
    );
    assert.deepEqual(
      res.alarms.map((a) => a.memberID),
      [11n, 12n],
    );
  });

  it("alarmDisarm by name sends one DEACTIVATE; bad alarms are refused", async () => {
    const requests: AlarmRequest[] = [];
    const m = createMaintenance(
      deps({
        alarm: async (request: AlarmRequest) => {
          requests.push(request);
          return create(AlarmResponseSchema);
        },
      }),
    );
    await m.alarmDisarm({ memberID: 5n, alarm: "nospace" });
    assert.deepEqual(
      requests.map((r) => [r.action, r.memberID, r.alarm]),
      [[AlarmRequest_AlarmAction.DEACTIVATE, 5n, AlarmType.NOSPACE]],
    );
    const bad = await failure(m.alarmDisarm({ alarm: "full" as "nospace" }));
    assert.equal(bad.reason, "invalid_argument");
    assert.equal(requests.length, 1);
  });

  it("moveLeader sends the request to the endpoint that is the leader", async () => {
    const sentTo: string[] = [];
    const member = (endpoint: string, id: bigint) => ({
      status: async () => create(StatusResponseSchema, { header: header(id), leader: 2n }),
      moveLeader: async (request: { targetID: bigint }) => {
        sentTo.push(`${endpoint}->${request.targetID}`);
        return {};
      },
    });
    const m = createMaintenance(
      deps({}, { "http://a": member("a", 1n), "http://b": member("b", 2n), "http://c": member("c", 3n) }),
    );
    await m.moveLeader(3n);
    assert.deepEqual(sentTo, ["b->3"]);
  });

  it("moveLeader looks again when the leader changed meanwhile, then fails with not_leader", async () => {
    let moves = 0;
    const m = createMaintenance(
      deps(
        {},
        {
          "http://a": {
            status: async () => create(StatusResponseSchema, { header: header(1n), leader: 1n }),
            moveLeader: async () => {
              moves++;
              throw new ConnectError("etcdserver: not leader", Code.FailedPrecondition);
            },
          },
        },
      ),
    );
    assert.equal((await failure(m.moveLeader(2n))).reason, "not_leader");
    assert.equal(moves, 3);
  });

  it("moveLeader fails with not_leader when the leader is not among the endpoints", async () => {
    const m = createMaintenance(
      deps(
        {},
        {
          "http://a": {
            status: async () => create(StatusResponseSchema, { header: header(1n), leader: 9n }),
          },
        },
      ),
    );
    const error = await failure(m.moveLeader(1n));
    assert.equal(error.reason, "not_leader");
    assert.match(error.message, /member 9.*not one of the client's endpoints \(http:\/\/a\)/);
  });

  it("downgrade on a server without it names the version it needs", async () => {
    const m = createMaintenance(
      deps({
        downgrade: async () => {
          throw new ConnectError(
            "unknown method Downgrade for service etcdserverpb.Maintenance",
            Code.Unimplemented,
          );
        },
      }),
    );
    const error = await failure(m.downgrade("validate", "3.4"));
    assert.equal(error.reason, "unimplemented");
    assert.match(error.message, /downgrade needs etcd 3\.5 or newer/);
  });

  it("downgrade refuses a bad action or version before sending", async () => {
    let sent = 0;
    const m = createMaintenance(deps({ downgrade: async () => void sent++ }));
    assert.equal((await failure(m.downgrade("enable", "three"))).reason, "invalid_argument");
    assert.equal((await failure(m.downgrade("rollback" as "cancel"))).reason, "invalid_argument");
    assert.equal(sent, 0);
  });
});
