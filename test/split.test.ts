// Envoy's priority arithmetic, run in the real module: the tables of Envoy's load-balancing
// documentation and unit tests (docs/research/envoy-lb-facts.md §1-§3; where a doc row disagrees
// with Envoy's code the code's value is used and the row says so), and seed 003's numbers.
import { describe, expect, it } from "vitest";
import { Failover, laddered } from "./support/failover.js";

/** Per-priority loads for levels given as [hosts, healthy]. */
function loads(levels: [number, number][], panicThreshold = 50, overprovisioningFactor = 1.4) {
  const f = new Failover(laddered(levels.map(([hosts, healthy]) => ({ hosts, healthy })), { panicThreshold, overprovisioningFactor }));
  const r = f.route();
  return { load: r.priorities.map((p) => p.load), panic: r.priorities.map((p) => p.panic), health: r.priorities.map((p) => p.health), split: r.split, route: r };
}

const pct = (n: number) => [100, n] as [number, number];

describe("priority levels (priority.rst)", () => {
  it.each([
    [100, [100, 0]], [72, [100, 0]], [71, [99, 1]], [50, [70, 30]], [25, [35, 65]], [0, [0, 100]],
  ])("P0 %i%% healthy, P1 healthy -> %j", (p0, expected) => {
    expect(loads([pct(p0), pct(100)]).load).toEqual(expected);
  });

  it.each([
    [100, 100, [100, 0]], [72, 72, [100, 0]], [71, 71, [99, 1]], [50, 50, [70, 30]], [25, 100, [35, 65]],
    [25, 25, [50, 50]], // both in panic: NTA 70, split by host count
  ])("P0 %i%%, P1 %i%% -> %j", (p0, p1, expected) => {
    expect(loads([pct(p0), pct(p1)]).load).toEqual(expected);
  });

  it.each([
    [100, 100, 100, [100, 0, 0]], [72, 72, 100, [100, 0, 0]], [71, 71, 100, [99, 1, 0]],
    [50, 50, 100, [70, 30, 0]], [25, 100, 100, [35, 65, 0]], [25, 25, 100, [35, 35, 30]],
  ])("three levels %i/%i/%i -> %j", (a, b, c, expected) => {
    expect(loads([pct(a), pct(b), pct(c)]).load).toEqual(expected);
  });

  it("25/25/20: the code's 37/35/28 with panic off (the doc's 36/36/28 is not reachable), 34/33/33 in total panic", () => {
    expect(loads([pct(25), pct(25), pct(20)], 0).load).toEqual([37, 35, 28]);
    const panic = loads([pct(25), pct(25), pct(20)], 50);
    expect(panic.load).toEqual([34, 33, 33]);
    expect(panic.route.panic).toBe(true);
  });

  it("normalizes when the total is under 100: health 20/30 -> 40/60", () => {
    // 100 hosts: 15 healthy -> health 21; use counts that give exactly 20 and 30 (OP 1.4).
    const r = loads([[7, 1], [14, 3]], 0);
    expect(r.health).toEqual([20, 30]);
    expect(r.load).toEqual([40, 60]);
  });
});

describe("panic threshold (panic_threshold.rst)", () => {
  it.each([
    [72, 72, [100, 0], [false, false]], [71, 71, [99, 1], [false, false]], [50, 60, [70, 30], [false, false]],
    [25, 100, [35, 65], [false, false]], [25, 25, [50, 50], [true, true]],
    [5, 65, [8, 92], [true, false]], // the doc says 7/93; Envoy gives the +1 remainder to P0
  ])("P0 %i%%, P1 %i%% -> %j", (p0, p1, expected, panic) => {
    const r = loads([pct(p0), pct(p1)]);
    expect(r.load).toEqual(expected);
    expect(r.panic).toEqual(panic);
  });

  it("spreads a priority in panic over all its hosts, healthy or not", () => {
    // P0 5% healthy is in panic: its 8% goes to its clusters by host count, not by health.
    const f = new Failover({
      locality: { region: "r1", zone: "a" },
      clusters: [
        { name: "x", region: "r1", zone: "a", hosts: ["s"], endpoints: 50 },
        { name: "y", region: "r1", zone: "a", hosts: ["s"], endpoints: 50 },
        { name: "z", region: "r1", zone: "b", hosts: ["s"], endpoints: 100 },
      ],
      routes: [{ name: "s", match: { authority: "s" }, destination: { mode: "auto" } }],
      assume: { x: { healthy: 5, total: 50 }, y: { healthy: 0, total: 50 }, z: { healthy: 65, total: 100 } },
    });
    const r = f.route();
    expect(r.priorities.map((p) => p.load)).toEqual([8, 92]);
    expect(r.split).toEqual({ x: 4, y: 4, z: 92 });
    expect(r.clusters.find((c) => c.name === "y")?.reason).toBe("panic");
  });

  it("in total panic splits by host count (2 and 8 hosts -> 20/80)", () => {
    expect(loads([[2, 0], [8, 0]]).load).toEqual([20, 80]);
    expect(loads([[5, 0], [3, 0], [2, 0]]).load).toEqual([50, 30, 20]);
  });

  it("with no healthy host anywhere sends everything by host count", () => {
    expect(loads([[4, 0], [4, 0]]).load).toEqual([50, 50]);
  });

  // Envoy's recalculatePerPriorityPanic: with the threshold at 0 and nothing healthy, 100% goes to
  // P0, no priority is in panic, and no host is picked (503 no healthy upstream). Source cited in
  // test/data/ENVOY-HOST-NOTES.md ("Panic threshold 0").
  it("with panic threshold 0 and nothing healthy names P0 and reports no panic (Envoy's corner case)", () => {
    const r = loads([[4, 0], [4, 0]], 0);
    expect(r.load).toEqual([100, 0]);
    expect(r.panic).toEqual([false, false]);
    expect(r.route.panic).toBe(false);
    expect(r.split).toEqual({ p0: 100, p1: 0 });
    expect(r.route.clusters.map((c) => c.reason)).toEqual(["unhealthy", "unhealthy"]);
    // Three levels, P0 empty of health too: still all on P0, as Envoy assigns it.
    expect(loads([[2, 0], [8, 0], [5, 0]], 0).load).toEqual([100, 0, 0]);
    // Any health at all: Envoy's normal arithmetic, still without panic.
    const some = loads([[10, 0], [10, 1]], 0);
    expect(some.load).toEqual([0, 100]);
    expect(some.panic).toEqual([false, false]);
  });
});

describe("Envoy unit-test vectors (load_balancer_impl_test.cc)", () => {
  it.each([
    [[[1, 1], [1, 1]], [100, 0]],
    [[[2, 1], [2, 1]], [70, 30]],
    [[[4, 1], [2, 2]], [35, 65]],
    [[[4, 1], [4, 1]], [50, 50]],
    [[[2, 1], [2, 1], [2, 1]], [70, 30, 0]],
    [[[4, 1], [4, 1], [4, 1]], [35, 35, 30]],
    [[[5, 1], [5, 1], [5, 1]], [34, 33, 33]],
    [[[5, 0], [5, 0], [5, 5]], [0, 0, 100]],
    [[[5, 0], [5, 0], [5, 4]], [0, 0, 100]],
    [[[5, 0], [5, 0], [5, 2]], [34, 33, 33]],
    [[[5, 0], [6, 2], [3, 1]], [37, 42, 21]],
    [[[3, 0], [3, 0], [3, 0]], [34, 33, 33]],
  ] as [[number, number][], number[]][])("%j -> %j", (levels, expected) => {
    expect(loads(levels).load).toEqual(expected);
  });

  it("uses the overprovisioning factor: 4 hosts with 2 healthy per level is 70/30 at 1.4, 50/50 at 1.0", () => {
    expect(loads([[4, 2], [4, 2]], 50, 1.4).load).toEqual([70, 30]);
    expect(loads([[4, 2], [4, 2]], 50, 1.0).load).toEqual([50, 50]);
  });
});

describe("locality weights inside a priority (locality_weight.rst)", () => {
  it.each([
    [100, 33.33], [70, 32.89], [69, 32.57], [50, 25.93], [25, 14.89], [0, 0],
  ])("X (weight 1) %i%% healthy, Y (weight 2) healthy -> X gets %f%%", (healthy, share) => {
    const f = new Failover({
      locality: { region: "r1", zone: "a" },
      clusters: [
        { name: "x", region: "r1", zone: "a", hosts: ["s"], endpoints: 100, weight: 1 },
        { name: "y", region: "r1", zone: "a", hosts: ["s"], endpoints: 100, weight: 2 },
      ],
      routes: [{ name: "s", match: { authority: "s" }, destination: { mode: "auto" } }],
      assume: { x: { healthy, total: 100 }, y: { healthy: 100, total: 100 } },
    });
    const split = f.route().split;
    expect(split.x).toBeCloseTo(share, 1);
    expect(split.x + split.y).toBeCloseTo(100, 5);
  });
});

describe("seed 003: overprovisioning factor 1.4 with 14 endpoints per zone", () => {
  const zones = (healthy: number) => {
    const f = new Failover({
      locality: { region: "ap-guangzhou", zone: "ap-guangzhou-3" },
      clusters: [
        { name: "user-zone3", region: "ap-guangzhou", zone: "ap-guangzhou-3", hosts: ["user.example.com"], endpoints: 14 },
        { name: "user-zone4", region: "ap-guangzhou", zone: "ap-guangzhou-4", hosts: ["user.example.com"], endpoints: 14 },
      ],
      routes: [{ name: "user", match: { authority: "user.example.com" }, destination: { mode: "auto" } }],
      assume: { "user-zone3": { healthy, total: 14 } },
    });
    return f.route().split;
  };

  it("keeps everything local at 10/14 healthy (71.4%: health 100)", () => expect(zones(10)).toEqual({ "user-zone3": 100, "user-zone4": 0 }));
  it("spills as soon as the healthy share drops below 71.4% (9/14: 90/10)", () => expect(zones(9)).toEqual({ "user-zone3": 90, "user-zone4": 10 }));
  it("splits 50/50 at 5/14 healthy", () => expect(zones(5)).toEqual({ "user-zone3": 50, "user-zone4": 50 }));
  it("moves everything at 0/14 healthy", () => expect(zones(0)).toEqual({ "user-zone3": 0, "user-zone4": 100 }));
});
