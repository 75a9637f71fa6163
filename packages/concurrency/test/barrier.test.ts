import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@etcd-connect/client";
import {
  ConcurrencyError,
  createBarrier,
  createDoubleBarrier,
  createSession,
  type Session,
} from "@etcd-connect/concurrency";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";
import { countingWatches, etcdctlRun, text, waitForCount, waitForKeys } from "./helpers.js";

describe("barrier and double barrier", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  const sessions: Session[] = [];
  const session = async (ttl = 10) => {
    const s = await createSession(client, { ttl });
    sessions.push(s);
    return s;
  };

  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => {});
    await client?.close();
    await etcd?.close();
  });

  it("barrier: Go's layout (the name itself, empty, no lease); waiters pass only on release", async () => {
    const counted = countingWatches(client);
    const barrier = createBarrier(counted.client, "barrier-test/basic");
    await barrier.wait(); // not held: passes at once
    assert.equal(await barrier.hold(), true);
    assert.equal(await barrier.hold(), false); // already held
    const raw = await client.get("barrier-test/basic");
    assert.deepEqual(
      raw.kvs.map((kv) => [text(kv.key), text(kv.value), kv.lease]),
      [["barrier-test/basic", "", 0n]],
    );

    const passed: number[] = [];
    const watching = counted.nextWatch();
    const waiters = [0, 1, 2].map((i) => barrier.wait().then(() => passed.push(i)));
    await (await watching).ready;
    // Other writes after the hold must not matter (Go 3.4's Wait would miss the release then).
    await client.put("barrier-test/unrelated", "x");
    assert.deepEqual(passed, []);
    await barrier.release();
    await Promise.all(waiters);
    assert.equal(passed.length, 3);
    assert.equal(counted.open(), 0, "wait() left a watch open");
    await barrier.release(); // releasing a free barrier does nothing
  });

  it("barrier: held and released by etcdctl, as a Go process would; an aborted wait rejects with canceled", async () => {
    await etcdctlRun(etcd.clientUrl, "put", "barrier-test/go", "");
    const barrier = createBarrier(client, "barrier-test/go");
    let through = false;
    const waiting = barrier.wait().then(() => {
      through = true;
    });
    const stop = new AbortController();
    const giving = barrier.wait({ signal: stop.signal });
    stop.abort();
    await assert.rejects(giving, (error) => ConcurrencyError.is(error, "canceled"));
    assert.equal(through, false);
    await etcdctlRun(etcd.clientUrl, "del", "barrier-test/go");
    await waiting;
    assert.equal(through, true);
    assert.throws(
      () => createBarrier(client, ""),
      (error) => ConcurrencyError.is(error, "invalid_argument"),
    );
  });

  it("double barrier: Go's layout; enter waits for the count, leave for everyone", async () => {
    const name = "double-test/basic";
    const [a, b, c] = await Promise.all(
      [0, 1, 2].map(async () => createDoubleBarrier(await session(), name, 3)),
    );
    assert.ok(a && b && c);
    assert.equal(a.prefix, `${name}/`);
    const events: string[] = [];
    const aIn = a.enter().then(() => events.push("a in"));
    const bIn = b.enter().then(() => events.push("b in"));
    await waitForKeys(client, `${name}/waiters/`, 2);
    assert.equal(events.length, 0, events.join(", "));
    assert.equal((await client.get(`${name}/ready`)).count, 0n);

    await c.enter(); // the third completes the count and lets everyone in
    await Promise.all([aIn, bIn]);
    const waiters = await client.get(`${name}/waiters/`, { prefix: true });
    assert.deepEqual(
      waiters.kvs.map((kv) => [text(kv.key), text(kv.value)]).sort(),
      [a, b, c].map((x) => [x.key, ""]).sort(),
    );
    for (const x of [a, b, c]) assert.match(x.key ?? "", new RegExp(`^${name}/waiters/[0-9]{19}$`));
    assert.deepEqual(waiters.kvs.map((kv) => kv.lease).sort(), [a, b, c].map((x) => x.session.lease).sort());
    const ready = await client.get(`${name}/ready`);
    assert.deepEqual(
      ready.kvs.map((kv) => [text(kv.value), kv.lease]),
      [["", 0n]],
    );

    const aOut = a.leave().then(() => events.push("a out"));
    const bOut = b.leave().then(() => events.push("b out"));
    // c came last, so one of a and b is the oldest and stays; the other deletes its key and waits.
    await waitForCount(client, `${name}/waiters/`, (n) => n === 2);
    assert.equal(events.filter((e) => e.endsWith("out")).length, 0, "left while c was still inside");
    await c.leave();
    await Promise.all([aOut, bOut]);
    assert.deepEqual(events.sort(), ["a in", "a out", "b in", "b out"]);
    assert.equal((await client.get(`${name}/`, { prefix: true, countOnly: true })).count, 0n);
  });

  it("double barrier: one too many gets barrier_full and leaves no key; an aborted enter withdraws", async () => {
    const name = "double-test/full";
    const one = createDoubleBarrier(await session(), name, 1);
    await one.enter(); // a count of 1: in at once
    await assert.rejects(createDoubleBarrier(await session(), name, 1).enter(), (error) =>
      ConcurrencyError.is(error, "barrier_full"),
    );
    assert.equal((await client.get(`${name}/waiters/`, { prefix: true, countOnly: true })).count, 1n);
    await one.leave();

    const stop = new AbortController();
    const waiter = createDoubleBarrier(await session(), "double-test/abort", 2);
    const entering = waiter.enter({ signal: stop.signal });
    await waitForKeys(client, "double-test/abort/waiters/", 1);
    stop.abort();
    await assert.rejects(entering, (error) => ConcurrencyError.is(error, "canceled"));
    assert.equal((await client.get("double-test/abort/", { prefix: true, countOnly: true })).count, 0n);
    await assert.rejects(waiter.leave(), (error) => ConcurrencyError.is(error, "invalid_argument"));
    for (const count of [0, -1, 1.5]) {
      assert.throws(
        () => createDoubleBarrier(one.session, name, count),
        (error) => ConcurrencyError.is(error, "invalid_argument"),
      );
    }
  });

  it("double barrier: a participant whose lease expires inside is counted out, and the others leave", async () => {
    const name = "double-test/lost";
    const doomed = await session(2);
    const [a, b, gone] = [await session(), await session(), doomed].map((s) =>
      createDoubleBarrier(s, name, 3),
    );
    assert.ok(a && b && gone);
    await Promise.all([a.enter(), b.enter(), gone.enter()]);
    const aOut = a.leave();
    const bOut = b.leave();
    // The third never leaves: its process "dies" (the keepalive stops) and its lease runs out.
    await doomed.orphan();
    await Promise.all([aOut, bOut]);
    assert.equal((await client.get(`${name}/waiters/`, { prefix: true, countOnly: true })).count, 0n);
  });

  it("double barrier: a Go participant written by etcdctl completes the count, and leave waits for its key", async () => {
    const name = "double-test/go";
    const ours = createDoubleBarrier(await session(), name, 2);
    const entering = ours.enter();
    await waitForKeys(client, `${name}/waiters/`, 1);
    // What Go's Enter does as the count-th participant: its waiter key on its lease, then ready.
    const granted = await etcdctlRun(etcd.clientUrl, "lease", "grant", "30");
    const lease = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
    assert.ok(lease, granted);
    const theirs = `${name}/waiters/${process.hrtime.bigint()}`;
    await etcdctlRun(etcd.clientUrl, "put", `--lease=${lease}`, theirs, "");
    await etcdctlRun(etcd.clientUrl, "put", `${name}/ready`, "");
    await entering;

    // We joined first, so we are the oldest: we stay until the Go participant's key is gone.
    let left = false;
    const leaving = ours.leave().then(() => {
      left = true;
    });
    assert.equal((await client.get(theirs)).count, 1n);
    assert.equal(left, false);
    await etcdctlRun(etcd.clientUrl, "lease", "revoke", lease); // its process died
    await leaving;
    // The last one out deletes ready, as Go's Leave does.
    assert.equal((await client.get(`${name}/`, { prefix: true, countOnly: true })).count, 0n);
  });
});
