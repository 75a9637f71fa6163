import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Http2Stream } from "./stream.js";
import { StreamTable } from "./stream-table.js";

// The table only reads a stream's id.
function stream(id: number): Http2Stream {
  return { id } as Http2Stream;
}

// A seeded generator, so a failure replays.
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe("StreamTable", () => {
  it("some() visits every stream until one passes, and says whether one did", () => {
    const table = new StreamTable();
    for (let id = 1; id < 200; id += 2) table.add(stream(id));
    const seen: number[] = [];
    assert.equal(
      table.some((s) => {
        seen.push(s.id);
        return false;
      }),
      false,
    );
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      table.list().map((s) => s.id),
    );
    let visits = 0;
    assert.equal(
      table.some((s) => {
        visits++;
        return s.id === seen[50];
      }),
      true,
    );
    assert.ok(visits <= seen.length);
  });

  it("agrees with a Map through adds and deletes in any order, across growth, shrinking and wrapped probe runs", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const next = random(seed);
      const table = new StreamTable();
      const model = new Map<number, Http2Stream>();
      let id = 1;
      // Phases of bursts (growth), drains (shrinking) and a steady churn whose long-lived streams
      // sit in the home slots of later ids (probe runs that wrap around the array's end).
      for (let step = 0; step < 20_000; step++) {
        const phase = Math.floor(step / 2_500) % 3;
        const addChance = phase === 0 ? 0.8 : phase === 1 ? 0.2 : 0.5;
        if (model.size === 0 || next() < addChance) {
          const s = stream(id);
          id += 2;
          table.add(s);
          model.set(s.id, s);
        } else {
          const keys = [...model.keys()];
          const victim = keys[Math.floor(next() * keys.length)] as number;
          assert.equal(table.delete(victim), true);
          model.delete(victim);
        }
        assert.equal(table.size, model.size);
        if (step % 97 === 0) {
          for (const [key, value] of model)
            assert.equal(table.get(key), value, `seed ${seed} step ${step} id ${key}`);
          assert.deepEqual(
            table.list().map((s) => s.id),
            [...model.keys()].sort((a, b) => a - b),
          );
        }
      }
      for (const key of model.keys()) assert.equal(table.get(key)?.id, key);
      assert.equal(table.get(id), undefined, "an id never added");
      assert.equal(table.delete(id), false);
    }
  });

  it("finds ids far apart that share a home slot, and deletes either without losing the other", () => {
    const table = new StreamTable();
    // 16 slots: ids 1, 33 and 65 all start at slot 0.
    const [a, b, c] = [stream(1), stream(33), stream(65)];
    table.add(a);
    table.add(b);
    table.add(c);
    assert.equal(table.delete(33), true);
    assert.equal(table.get(1), a);
    assert.equal(table.get(65), c);
    assert.equal(table.delete(1), true);
    assert.equal(table.get(65), c);
    assert.equal(table.get(33), undefined);
    assert.deepEqual(
      table.list().map((s) => s.id),
      [65],
    );
  });

  it("keeps no reference to a deleted stream, also after resizing", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const table = new StreamTable();
    const kept = stream(201);
    // Grow to 256 slots, then drain to one stream: the table shrinks and shifts entries on the way.
    // In a function of its own: a suspended async function would hold its last local stream.
    const fill = (): WeakRef<Http2Stream>[] => {
      const refs: WeakRef<Http2Stream>[] = [];
      for (let id = 1; id < 201; id += 2) {
        const s = stream(id);
        refs.push(new WeakRef(s));
        table.add(s);
      }
      table.add(kept);
      for (let id = 1; id < 201; id += 2) table.delete(id);
      return refs;
    };
    const refs = fill();
    // A WeakRef keeps its target until the job that made it ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.equal(refs.filter((r) => r.deref() !== undefined).length, 0);
    assert.equal(table.get(201), kept);
    assert.equal(table.size, 1);
  });
});
