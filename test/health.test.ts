// Health on the real module: outlier ejection (5xx, gateway, local origin, with and without the
// split), ejection time growth, re-admission, probes, slow start, hysteresis, latency, the
// sliding window, max ejection percent, and shared state across worker VMs.
import { describe, expect, it } from "vitest";
import { SharedData } from "../extproc/host/index.js";
import { Failover } from "./support/failover.js";

const UF = 0x20; // upstream connection failure
const UT = 0x4; // upstream request timeout
const UO = 0x80; // circuit breaker overflow

const two = (health: object = {}, extra: object = {}) => ({
  locality: { region: "r1", zone: "a" },
  clusters: [
    { name: "near", region: "r1", zone: "a", hosts: ["svc"] },
    { name: "far", region: "r2", zone: "b", hosts: ["svc"] },
  ],
  routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["near", "far"] } }],
  health,
  ...extra,
});
/** The same two clusters, retrying across them through aggregates (which probes require). */
const twoWithRetries = (health: object = {}) => two(health, {
  aggregates: [{ name: "near-then-far", clusters: ["near", "far"] }, { name: "far-then-near", clusters: ["far", "near"] }],
  routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["near", "far"] }, retry: { acrossClusters: true } }],
});
const cluster = (f: Failover, name: string) => f.plan().clusters.find((c) => c.name === name)!;
const hit = (f: Failover, code: number, flags = 0) => f.exchange("svc", code, { flags });

describe("outlier ejection", () => {
  it("ejects after consecutive 5xx and moves the traffic at once", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 3 } }));
    hit(f, 500);
    hit(f, 500);
    expect(cluster(f, "near").ejected).toBe(false);
    hit(f, 500);
    expect(cluster(f, "near")).toMatchObject({ ejected: true, ejections: 1, score: 0 });
    expect(f.route().split).toEqual({ near: 0, far: 100 });
    expect(f.vm.metrics.value("failover.cluster.near.ejections_total")).toBe(1n);
  });

  it("keeps a probe share on an ejected cluster only where a failed probe is retried elsewhere", () => {
    const f = new Failover(twoWithRetries({ outlierDetection: { consecutive5xx: 1 } }));
    hit(f, 500);
    const r = f.route();
    expect(r.split).toEqual({ near: 1, far: 99 });
    expect(r.clusters.find((c) => c.name === "near")).toMatchObject({ reason: "probe", via: "near-then-far" });
  });

  it("a success resets the consecutive count", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 3 } }));
    for (let i = 0; i < 5; i++) { hit(f, 500); hit(f, 500); hit(f, 200); }
    expect(cluster(f, "near").ejected).toBe(false);
  });

  it("counts gateway errors separately when enforced, and not at all by default", () => {
    const off = new Failover(two({ outlierDetection: { consecutive5xx: 0 } }));
    for (let i = 0; i < 10; i++) hit(off, 503);
    expect(cluster(off, "near").ejected).toBe(false);
    const on = new Failover(two({ outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 2 } }));
    hit(on, 500); // a 500 is not a gateway error: it breaks the run
    hit(on, 503);
    expect(cluster(on, "near").ejected).toBe(false);
    hit(on, 504);
    expect(cluster(on, "near").ejected).toBe(true);
  });

  it("without the split, connect failures and timeouts count as 503/504 (seed 004 defaults off)", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 2, consecutiveLocalOriginFailures: 0 } }));
    hit(f, 503, UF);
    hit(f, 504, UT);
    expect(cluster(f, "near").ejected).toBe(true);
  });

  it("with the split, local-origin failures have their own count (seed 004: 1 failure ejects)", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 0, consecutiveLocalOriginFailures: 1, splitExternalLocalOriginErrors: true } }));
    hit(f, 503, UF);
    expect(cluster(f, "near").ejected).toBe(true);
    const g = new Failover(two({ outlierDetection: { consecutive5xx: 5, consecutiveLocalOriginFailures: 2, splitExternalLocalOriginErrors: true } }));
    hit(g, 500);
    hit(g, 503, UF);
    hit(g, 500);
    expect(cluster(g, "near").ejected).toBe(false); // local and external runs are separate
    hit(g, 504, UT);
    expect(cluster(g, "near").ejected).toBe(true);
  });

  it("ignores a circuit breaker's own refusal, but counts the upstream's answer behind a retry overflow", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 1 } }));
    const overflow = (details: string) => {
      const s = f.request("svc");
      s.sendResponseHeaders([[":status", "503"]], true);
      s.end({ response: { code: 503, flags: UO, code_details: details } });
    };
    overflow("upstream_reset_before_response_started{overflow}");
    f.advance(250);
    expect(cluster(f, "near")).toMatchObject({ ejected: false, requests: 0 });
    overflow("via_upstream"); // retries overflowed: this 503 is the cluster's
    expect(cluster(f, "near")).toMatchObject({ ejected: true, requests: 1 });
  });

  it("re-admits after the ejection time, and the time grows with repeated ejections", () => {
    // One cluster on the route, so slow start after re-admission cannot steer the 500s elsewhere.
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 1, baseEjectionTime: "10s", maxEjectionTime: "25s", interval: "1s" }, probe: { percent: 0 } },
      { routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["near"] } }] }));
    hit(f, 500);
    f.advance(9_750);
    expect(cluster(f, "near").ejected).toBe(true);
    f.advance(250);
    expect(cluster(f, "near").ejected).toBe(false);
    hit(f, 500); // second ejection in a row: 20 s
    f.advance(19_750);
    expect(cluster(f, "near").ejected).toBe(true);
    f.advance(250);
    expect(cluster(f, "near").ejected).toBe(false);
    hit(f, 500); // third: 30 s capped at 25 s
    f.advance(24_750);
    expect(cluster(f, "near").ejected).toBe(true);
    f.advance(250);
    expect(cluster(f, "near")).toMatchObject({ ejected: false, ejections: 3 });
  });

  it("honours max ejection percent", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 50 } }, {
      routes: [
        { name: "near", match: { authority: "near" }, destination: { mode: "named", clusters: ["near"] } },
        { name: "far", match: { authority: "far" }, destination: { mode: "named", clusters: ["far"] } },
      ],
    }));
    f.exchange("near", 500);
    f.exchange("far", 500);
    expect(cluster(f, "near").ejected).toBe(true);
    expect(cluster(f, "far").ejected).toBe(false);
  });
});

describe("recovery", () => {
  it("spreads load over ejected clusters too when everything has failed (Envoy's total panic)", () => {
    const f = new Failover({ ...twoWithRetries({ outlierDetection: { consecutive5xx: 1 } }), assume: { far: { healthy: 0, total: 1 } } });
    hit(f, 500); // near is ejected; far has no health either
    const r = f.route();
    expect(r.panic).toBe(true);
    expect(r.split).toEqual({ near: 50, far: 50 });
    expect(r.clusters.find((c) => c.name === "near")?.reason).toBe("panic");
  });

  it("probes an ejected cluster and re-admits it after enough probe successes (seed 000)", () => {
    const f = new Failover(twoWithRetries({ outlierDetection: { consecutive5xx: 1, baseEjectionTime: "5m" }, probe: { percent: 2, successes: 3 } }));
    hit(f, 500);
    let probes = 0;
    let guard = 0;
    while (cluster(f, "near").ejected && guard++ < 2000) {
      const s = f.exchange("svc", 200);
      if (s.requestHeaders.get("x-failover-reason") === "probe") probes++;
    }
    expect(cluster(f, "near").ejected).toBe(false);
    expect(probes).toBe(3);
    expect(guard).toBeGreaterThan(20); // probes are a small share, not every request
    expect(f.vm.metrics.value("failover.cluster.near.probes_total")).toBe(3n);
  });

  it("ramps a re-admitted cluster up over the slow-start window", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 1, baseEjectionTime: "1s" }, slowStart: "10s", probe: { percent: 0 } }));
    hit(f, 500);
    f.advance(1_000);
    const shares: number[] = [];
    for (let t = 0; t < 12; t++) {
      shares.push(f.route().split.near);
      f.advance(1_000);
    }
    for (let i = 1; i < shares.length; i++) expect(shares[i]).toBeGreaterThanOrEqual(shares[i - 1]);
    expect(shares[0]).toBeLessThan(20);
    expect(shares[shares.length - 1]).toBe(100);
  });

  it("holds what it learned when traffic stops, and drifts back to healthy over an ejection time", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 0, baseEjectionTime: "20s" }, window: "10s", hysteresis: 0, slowStart: "1s" }));
    for (let i = 0; i < 10; i++) hit(f, 500);
    f.advance(250);
    expect(cluster(f, "near").score).toBeLessThan(40);
    f.advance(10_000); // the failures have left the window; no traffic since
    const held = cluster(f, "near").score;
    expect(held).toBeLessThan(80);
    f.advance(10_000);
    expect(cluster(f, "near").score).toBeGreaterThan(held);
    f.advance(10_000);
    expect(cluster(f, "near").score).toBe(100);
  });
});

describe("scores", () => {
  it("falls at once and rises back no faster than the slow start, after a brownout too", () => {
    // A zone of 14 endpoints fails completely with ejection off, then recovers at 100 rps.
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 0, consecutiveLocalOriginFailures: 0 }, slowStart: "20s" }));
    let failing = true;
    const near: number[] = [];
    for (let ms = 0; ms < 60_000; ms += 10) {
      if (ms === 20_000) failing = false;
      const s = f.request("svc");
      const toNear = s.requestHeaders.get("x-failover-cluster") === "near";
      const code = toNear && failing ? 503 : 200;
      s.sendResponseHeaders([[":status", String(code)]], true);
      s.end({ response: { code, flags: 0 } });
      f.advance(10);
      if ((ms + 10) % 1000 === 0) near.push(f.route().split.near);
    }
    expect(near[1]).toBeLessThan(20); // failover within a couple of seconds
    const back = near.findIndex((v, i) => i >= 20 && v === 100);
    expect(back - 20).toBeGreaterThanOrEqual(10); // the return takes a good part of the slow start
    for (let i = 21; i <= back; i++) expect(near[i]).toBeGreaterThanOrEqual(near[i - 1]); // and only climbs
  });

  it("turns a share of failing endpoints into Envoy's gradual spill (seed 003: 4 of 14 failing)", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 0 }, minRequests: 5, hysteresis: 0 }));
    // 400 requests, every 7th pair failing: 2/7 = 4/14 of the endpoints answer 503.
    for (let i = 0; i < 400; i++) hit(f, i % 7 < 2 ? 503 : 200);
    f.advance(250);
    const near = cluster(f, "near").score;
    expect(near).toBeGreaterThan(69);
    expect(near).toBeLessThan(74);
    const split = f.route().split;
    expect(split.near).toBeGreaterThan(95); // 1.4 x ~71% keeps (almost) everything local
  });

  it("includes latency against the cluster's own baseline, and slowly accepts a new normal", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 0 }, latency: { weight: 0.5, tolerance: 2 }, hysteresis: 0 }));
    for (let i = 0; i < 50; i++) f.exchange("svc", 200, { latencyMs: 10 });
    f.advance(250);
    expect(cluster(f, "near").baselineMs).toBe(10);
    f.advance(10_000); // let the fast window age out
    for (let i = 0; i < 50; i++) f.exchange("svc", 200, { latencyMs: 40 }); // 4x baseline: near full penalty
    f.advance(250);
    const slow = cluster(f, "near");
    expect(slow.latencyMs).toBe(40);
    // 100 x (1 - 0.5 x penalty); the baseline has crept up a little over the 2 s of slow traffic.
    expect(slow.score).toBeGreaterThanOrEqual(50);
    expect(slow.score).toBeLessThan(60);
    expect(f.route().split.near).toBeLessThan(100);
    // Sustained, the slower latency becomes the baseline (time constant 10 windows).
    for (let t = 0; t < 300; t++) for (let i = 0; i < 5; i++) f.exchange("svc", 200, { latencyMs: 40 });
    f.advance(250);
    expect(cluster(f, "near").score).toBe(100);
  });

  it("does not republish a score that moved less than the hysteresis", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 0 }, hysteresis: 10 }));
    for (let i = 0; i < 100; i++) hit(f, i % 10 === 0 ? 503 : 200); // ~90.5
    f.advance(250);
    const first = cluster(f, "near").score;
    for (let i = 0; i < 20; i++) hit(f, 200); // drifts up a few points only
    f.advance(250);
    expect(cluster(f, "near").score).toBe(first);
    const g = new Failover(two({ outlierDetection: { consecutive5xx: 0 }, hysteresis: 0 }));
    for (let i = 0; i < 100; i++) hit(g, i % 10 === 0 ? 503 : 200);
    g.advance(250);
    const before = cluster(g, "near").score;
    for (let i = 0; i < 20; i++) hit(g, 200);
    g.advance(250);
    expect(cluster(g, "near").score).not.toBe(before);
  });

  it("follows Istio's minHealthPercent as the panic threshold", () => {
    // 1 of 10 healthy in each: in panic below the default 50%, not with minHealthPercent 5.
    const assume = { assume: { near: { healthy: 1, total: 10 }, far: { healthy: 1, total: 10 } } };
    expect(new Failover(two({}, assume)).route().priorities.map((p) => p.panic)).toEqual([true, true]);
    const f = new Failover(two({ outlierDetection: { minHealthPercent: 5 } }, assume));
    expect(f.route().priorities.map((p) => p.panic)).toEqual([false, false]);
    // minHealthPercent 0 with nothing healthy: Envoy's P0, no panic (load_balancer_impl.cc).
    const none = new Failover(two({ outlierDetection: { minHealthPercent: 0 } }, { assume: { near: { healthy: 0, total: 10 }, far: { healthy: 0, total: 10 } } }));
    expect(none.route().priorities.map((p) => [p.load, p.panic])).toEqual([[100, false], [0, false]]);
  });
});

describe("shared state across worker VMs", () => {
  it("loses no count when two workers record into one cluster (CAS)", () => {
    const shared = new SharedData();
    const policy = two({ outlierDetection: { consecutive5xx: 0 } });
    const a = new Failover(policy, { shared });
    const b = new Failover(policy, { shared });
    for (let i = 0; i < 100; i++) hit(i % 2 ? a : b, i % 4 === 0 ? 500 : 200);
    // Each worker merges its successes at its own tick (failures are written at once): once both
    // ticked, every count is in.
    b.advance(250);
    a.advance(250);
    expect(cluster(a, "near")).toMatchObject({ requests: 100, failures: 25 });
  });

  it("an ejection seen by one worker reaches the other at its next tick", () => {
    const shared = new SharedData();
    const policy = two({ outlierDetection: { consecutive5xx: 2 } });
    const a = new Failover(policy, { shared });
    const b = new Failover(policy, { shared });
    hit(a, 500);
    hit(b, 500);
    b.advance(0);
    a.advance(250);
    expect(a.route().split.near).toBe(0);
    b.advance(250);
    expect(b.route().split.near).toBe(0);
  });
});

describe("failover speed (seed 000: a whole cluster fails at 100 rps)", () => {
  it("moves traffic off within one second, then returns gradually without flapping", () => {
    const f = new Failover(two({ outlierDetection: { consecutive5xx: 5, baseEjectionTime: "30s" }, slowStart: "10s" }));
    let down = true;
    let errors = 0;
    let probeErrors = 0;
    const nearShare: number[] = []; // per simulated second
    let near = 0;
    for (let ms = 0; ms < 60_000; ms += 10) {
      if (ms === 5_000) down = false; // recovers while still ejected: the probes notice
      const s = f.request("svc");
      const toNear = s.requestHeaders.get("x-failover-cluster") === "near";
      const code = toNear && down ? 503 : 200;
      if (toNear) near++;
      if (code === 503) errors++;
      if (code === 503 && s.requestHeaders.get("x-failover-reason") === "probe") probeErrors++;
      s.sendResponseHeaders([[":status", String(code)]], true);
      s.end({ response: { code, flags: code === 503 ? UF : 0 } });
      f.advance(10);
      if ((ms + 10) % 1000 === 0) { nearShare.push(near); near = 0; }
    }
    expect(nearShare[0]).toBeLessThanOrEqual(6); // the 5 failures that eject it, and at most a probe
    // Without retries the only failures are the 5 that eject it and the probes (1%) before recovery;
    // with retries (simulate) the probes are retried elsewhere.
    expect(errors - probeErrors).toBe(5);
    expect(probeErrors).toBeLessThanOrEqual(10);
    const back = nearShare.findIndex((n, i) => i > 5 && n === 100);
    expect(back).toBeGreaterThan(5);
    // From first probe success to full share, the share only grows (slow start, no flapping).
    const ramp = nearShare.slice(5, back + 1);
    for (let i = 1; i < ramp.length; i++) expect(ramp[i]).toBeGreaterThanOrEqual(ramp[i - 1] - 2);
    expect(nearShare.slice(back)).toEqual(nearShare.slice(back).map(() => 100));
  });
});
