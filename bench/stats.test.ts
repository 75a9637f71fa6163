import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fanInValue, sentAtMs } from "./fan-in-value.js";
import { formatTarget, formatVerdict } from "./report.js";
import { type Run, type Runs, spread, summarize } from "./stats.js";
import { createWallClock } from "./wall-clock.js";
import type { Workload } from "./workloads.js";

// One metric of each direction, with targets on both rivals and one absolute target.
const workload: Workload = {
  id: "synthetic",
  title: "synthetic",
  params: { kind: "watchers", count: 1 },
  metrics: [
    { id: "opsPerSec", label: "ops/s", better: "higher", digits: 0 },
    { id: "kb", label: "KB", better: "lower", digits: 2 },
  ],
  targets: [
    { metric: "opsPerSec", on: "ratio", vs: "etcd3", op: ">=", value: 2 },
    { metric: "opsPerSec", on: "ratio", vs: "go", op: ">=", value: 1.1 },
    { metric: "kb", on: "ours", op: "<=", value: 5, unit: "KB" },
    { metric: "kb", on: "ratio", vs: "go", op: "<=", value: 1 },
  ],
};

function rounds(...figures: Record<string, number>[]): Run[] {
  return figures.map((metrics, i) => ({ round: i + 1, metrics }));
}

describe("summarize", () => {
  it("takes ours' ratio to each rival and judges every target of a metric", () => {
    const runs: Runs = {
      ours: rounds({ opsPerSec: 300, kb: 4 }, { opsPerSec: 100, kb: 2 }, { opsPerSec: 200, kb: 3 }),
      etcd3: rounds({ opsPerSec: 50, kb: 6 }, { opsPerSec: 70, kb: 6 }, { opsPerSec: 60, kb: 6 }),
      go: rounds({ opsPerSec: 250, kb: 2 }, { opsPerSec: 150, kb: 2 }, { opsPerSec: 200, kb: 2 }),
    };
    const summary = summarize(workload, runs);
    const ops = summary.opsPerSec;
    assert.deepEqual(ops?.ours, { median: 200, min: 100, max: 300, rounds: 3 });
    assert.equal(ops?.ratios.etcd3, 200 / 60);
    assert.equal(ops?.ratios.go, 1);
    assert.deepEqual(
      ops?.verdicts.map((v) => [formatTarget(v.target), v.pass]),
      [
        ["≥ 2x etcd3", true],
        ["≥ 1.1x Go", false],
      ],
    );
    const kb = summary.kb;
    assert.equal(kb?.ratios.go, 1.5);
    assert.deepEqual(
      kb?.verdicts.map((v) => [formatTarget(v.target), v.pass]),
      [
        ["ours ≤ 5 KB", true],
        ["≤ 1x Go", false],
      ],
    );
  });

  it("leaves targets on Go unjudged when Go did not run, and still judges the others", () => {
    const runs: Runs = {
      ours: rounds({ opsPerSec: 200, kb: 3 }),
      etcd3: rounds({ opsPerSec: 50, kb: 6 }),
      go: [],
    };
    const summary = summarize(workload, runs);
    assert.equal(summary.opsPerSec?.go, undefined);
    assert.equal(summary.opsPerSec?.ratios.go, undefined);
    assert.deepEqual(
      summary.opsPerSec?.verdicts.map((v) => v.pass),
      [true, undefined],
    );
    assert.deepEqual(
      summary.kb?.verdicts.map((v) => v.pass),
      [true, undefined],
    );
    const unjudged = summary.opsPerSec?.verdicts[1];
    assert.equal(unjudged === undefined ? undefined : formatVerdict(unjudged), "n/a");
  });

  it("fails every target of ours when a round of ours failed, whatever the other rounds say", () => {
    const runs: Runs = {
      ours: [...rounds({ opsPerSec: 900, kb: 1 }), { round: 2, error: "boom" }],
      etcd3: rounds({ opsPerSec: 50, kb: 6 }),
      go: rounds({ opsPerSec: 50, kb: 6 }),
    };
    const summary = summarize(workload, runs);
    assert.equal(summary.opsPerSec?.ours?.rounds, 1);
    for (const metric of ["opsPerSec", "kb"]) {
      assert.deepEqual(
        summary[metric]?.verdicts.map((v) => v.pass),
        [false, false],
        metric,
      );
    }
  });

  it("uses the rounds a rival completed when some of its rounds failed", () => {
    const runs: Runs = {
      ours: rounds({ opsPerSec: 200, kb: 3 }, { opsPerSec: 200, kb: 3 }),
      etcd3: rounds({ opsPerSec: 100, kb: 6 }, { opsPerSec: 100, kb: 6 }),
      go: [{ round: 1, error: "boom" }, ...rounds({ opsPerSec: 400, kb: 3 })],
    };
    const summary = summarize(workload, runs);
    assert.equal(summary.opsPerSec?.go?.rounds, 1);
    assert.equal(summary.opsPerSec?.ratios.go, 0.5);
  });

  it("meets an absolute size bound only when every round does, below zero included", () => {
    const runs: Runs = {
      ours: rounds({ opsPerSec: 200, kb: -2 }, { opsPerSec: 200, kb: 1 }, { opsPerSec: 200, kb: 2 }),
      etcd3: rounds({ opsPerSec: 100, kb: 6 }),
      go: rounds({ opsPerSec: 100, kb: 4 }),
    };
    const kb = summarize(workload, runs).kb;
    assert.equal(kb?.ours?.median, 1);
    // The ratio to Go is still a ratio of medians.
    assert.deepEqual(
      kb?.verdicts.map((v) => v.pass),
      [true, true],
    );
  });

  it("calls an absolute size bound n/a when its median meets it and a round does not", () => {
    const verdict = (...kb: number[]) =>
      summarize(workload, {
        ours: rounds(...kb.map((value) => ({ opsPerSec: 200, kb: value }))),
        etcd3: rounds({ opsPerSec: 100, kb: 6 }),
        go: rounds({ opsPerSec: 100, kb: 9 }),
      }).kb?.verdicts[0]?.pass;
    assert.equal(verdict(4.84, -18.31, 5.21), undefined);
    assert.equal(verdict(4, 5, 5), true);
    assert.equal(verdict(4, 5.1, 6), false);
  });

  it("has no ratio to a rival whose median is zero, and no figure from NaN rounds", () => {
    const runs: Runs = {
      ours: rounds({ opsPerSec: 200, kb: Number.NaN }),
      etcd3: rounds({ opsPerSec: 0, kb: 6 }),
      go: rounds({ opsPerSec: 100, kb: 4 }),
    };
    const summary = summarize(workload, runs);
    assert.equal(summary.opsPerSec?.ratios.etcd3, undefined);
    assert.equal(summary.kb?.ours, undefined);
    assert.deepEqual(
      summary.kb?.verdicts.map((v) => v.pass),
      [undefined, undefined],
    );
  });
});

describe("spread", () => {
  it("takes the median of an even count as the mean of the middle two", () => {
    assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, rounds: 4 });
    assert.equal(spread([Number.NaN]), undefined);
  });
});

describe("fan-in values", () => {
  it("carry the send time to microseconds, padded to size", () => {
    const value = fanInValue(1764657000123.4568, 256);
    assert.equal(value.length, 256);
    assert.equal(value.subarray(0, 18).toString("latin1"), "1764657000123.457;");
    assert.ok(Math.abs(sentAtMs(value) - 1764657000123.457) < 1e-6);
  });

  it("read as NaN when the value carries no send time", () => {
    for (const text of ["ffff", ";123", "12a;", "1".repeat(30), "", "123"]) {
      assert.ok(Number.isNaN(sentAtMs(Buffer.from(text))), JSON.stringify(text));
    }
    assert.equal(sentAtMs(Buffer.from("42;x")), 42);
  });

  it("are stamped by a clock that agrees with Date.now()", () => {
    const now = createWallClock();
    for (let i = 0; i < 1000; i++) {
      // Bracketed by Date.now() on both sides, so a pause of this thread between the reads widens
      // the bracket instead of failing the check. What is left is the calibration's own error:
      // within 2 ms, where performance.timeOrigin was once 19 ms off.
      const before = Date.now();
      const stamp = now();
      const after = Date.now();
      assert.ok(
        stamp >= before - 2 && stamp < after + 1 + 2,
        `clock ${stamp} outside Date.now() ${before} .. ${after}`,
      );
    }
  });
});
