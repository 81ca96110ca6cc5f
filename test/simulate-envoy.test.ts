// Envoy's side of `failover simulate`, without the module: the router's retry rules as Envoy's
// source has them, the upstream model over time, and the report's failover/failback/flapping
// measures on made-up request records.
import { describe, expect, it } from "vitest";
import { HeaderMap } from "../extproc/host/index.js";
import type { EnvoyClusterSpec, SimulateCase, UpstreamEvent } from "../extproc/tools/scenario.js";
import { HostBalancer, inPanic, priorityHealth } from "../extproc/tools/simulate/balancer.js";
import { OUTLIER_DEFAULTS, OutlierConfig, OutlierDetector } from "../extproc/tools/simulate/outlier.js";
import { Random } from "../extproc/tools/simulate/random.js";
import { eventOutcomes, timeline } from "../extproc/tools/simulate/report.js";
import {
  ROUTE_TIMEOUT_MS, aggregateChild, attemptResult, backoffMs, finalResponse, retryPolicy, wouldRetry,
} from "../extproc/tools/simulate/router.js";
import type { RequestRecord } from "../extproc/tools/simulate/run.js";
import { UpstreamModel, Wire, isFailingEndpoint } from "../extproc/tools/simulate/upstream.js";

const policy = (headers: Record<string, string>) => retryPolicy(new HeaderMap(headers));

describe("the retry policy Envoy reads from the filter's headers", () => {
  it("exists only when x-envoy-retry-on names a known condition", () => {
    expect(policy({})).toBeUndefined();
    expect(policy({ "x-envoy-max-retries": "3" })).toBeUndefined();
    expect(policy({ "x-envoy-retry-on": "bogus" })).toBeUndefined();
  });

  it("retries once by default, as many times as x-envoy-max-retries says, and ignores a bad count", () => {
    expect(policy({ "x-envoy-retry-on": "5xx" })?.numRetries).toBe(1);
    expect(policy({ "x-envoy-retry-on": "5xx", "x-envoy-max-retries": "3" })?.numRetries).toBe(3);
    expect(policy({ "x-envoy-retry-on": "5xx", "x-envoy-max-retries": "0" })?.numRetries).toBe(0);
    expect(policy({ "x-envoy-retry-on": "5xx", "x-envoy-max-retries": "two" })?.numRetries).toBe(1);
  });

  it("trims and skips unknown conditions, reads retriable codes and the per-try timeout", () => {
    const p = policy({
      "x-envoy-retry-on": " gateway-error , nonsense,retriable-status-codes",
      "x-envoy-retriable-status-codes": "409, 418,x",
      "x-envoy-upstream-rq-per-try-timeout-ms": "250",
    })!;
    expect([...p.retryOn]).toEqual(["gateway-error", "retriable-status-codes"]);
    expect(p.retriableStatusCodes).toEqual([409, 418]);
    expect(p.perTryTimeoutMs).toBe(250);
  });

  it("ignores a per-try timeout that is not shorter than the route timeout", () => {
    const at = (ms: number) => policy({ "x-envoy-retry-on": "5xx", "x-envoy-upstream-rq-per-try-timeout-ms": String(ms) })!.perTryTimeoutMs;
    expect(at(ROUTE_TIMEOUT_MS)).toBeUndefined();
    expect(at(0)).toBeUndefined();
    expect(at(ROUTE_TIMEOUT_MS - 1)).toBe(ROUTE_TIMEOUT_MS - 1);
  });
});

describe("which results Envoy retries", () => {
  const on = (retryOn: string, codes = "") =>
    policy({ "x-envoy-retry-on": retryOn, ...(codes ? { "x-envoy-retriable-status-codes": codes } : {}) })!;
  const response = (code: number) => ({ kind: "response" as const, code });
  const connectFailure = { kind: "connect-failure" as const };
  const perTryTimeout = { kind: "per-try-timeout" as const };

  it("5xx: every 5xx response, connect failures and per-try timeouts", () => {
    const p = on("5xx");
    expect([500, 501, 503, 599].map((c) => wouldRetry(p, response(c)))).toEqual([true, true, true, true]);
    expect([200, 404, 409].map((c) => wouldRetry(p, response(c)))).toEqual([false, false, false]);
    expect(wouldRetry(p, connectFailure)).toBe(true);
    expect(wouldRetry(p, perTryTimeout)).toBe(true);
  });

  it("gateway-error: 502, 503, 504 only, and resets", () => {
    const p = on("gateway-error");
    expect([500, 502, 503, 504, 505].map((c) => wouldRetry(p, response(c)))).toEqual([false, true, true, true, false]);
    expect(wouldRetry(p, connectFailure)).toBe(true);
    expect(wouldRetry(p, perTryTimeout)).toBe(true);
  });

  it("connect-failure and reset-before-request: connect failures only; reset: any reset", () => {
    for (const cond of ["connect-failure", "reset-before-request"]) {
      expect(wouldRetry(on(cond), connectFailure)).toBe(true);
      expect(wouldRetry(on(cond), perTryTimeout)).toBe(false);
      expect(wouldRetry(on(cond), response(503))).toBe(false);
    }
    expect(wouldRetry(on("reset"), perTryTimeout)).toBe(true);
    expect(wouldRetry(on("reset"), connectFailure)).toBe(true);
    expect(wouldRetry(on("reset"), response(503))).toBe(false);
  });

  it("retriable-status-codes: only the codes listed; retriable-4xx: 409", () => {
    expect(wouldRetry(on("retriable-status-codes", "503"), response(503))).toBe(true);
    expect(wouldRetry(on("retriable-status-codes", "503"), response(502))).toBe(false);
    expect(wouldRetry(on("retriable-status-codes"), response(503))).toBe(false);
    expect(wouldRetry(on("retriable-4xx"), response(409))).toBe(true);
    expect(wouldRetry(on("retriable-4xx"), response(404))).toBe(false);
  });
});

describe("attempts", () => {
  it("a per-try timeout cuts a slow attempt short into a 504 UT", () => {
    expect(attemptResult({ kind: "response", code: 200, ms: 800 }, 300)).toEqual({ result: { kind: "per-try-timeout" }, ms: 300 });
    expect(attemptResult({ kind: "response", code: 200, ms: 200 }, 300)).toEqual({ result: { kind: "response", code: 200 }, ms: 200 });
    expect(finalResponse({ kind: "per-try-timeout" })).toEqual({ code: 504, flags: 0x4, details: "upstream_per_try_timeout" });
    expect(finalResponse({ kind: "connect-failure" })).toMatchObject({ code: 503, flags: 0x20 });
  });

  it("backs off below 25, 50, 100, 200, then 250 ms", () => {
    const random = new Random(3);
    for (const [n, cap] of [[1, 25], [2, 50], [3, 100], [4, 200], [5, 250], [9, 250]]) {
      const draws = Array.from({ length: 500 }, () => backoffMs(n, random));
      expect(Math.max(...draws)).toBeLessThan(cap);
      expect(Math.max(...draws)).toBeGreaterThanOrEqual(cap * 0.9);
      expect(Math.min(...draws)).toBe(0);
    }
  });

  it("walks an aggregate's children one per attempt, then falls back to the first", () => {
    const children = ["a", "b", "c"];
    expect([0, 1, 2, 3, 4].map((k) => aggregateChild(children, k))).toEqual(["a", "b", "c", "a", "a"]);
    expect(aggregateChild([], 0)).toBeUndefined();
  });
});

describe("the upstream model", () => {
  const events: UpstreamEvent[] = [
    { atMs: 1000, cluster: "x", kind: "down", mode: "connect-refused" },
    { atMs: 2000, cluster: "x", kind: "recover" },
    { atMs: 3000, cluster: "x", kind: "latency", latencyMs: 900 },
    { atMs: 4000, cluster: "x", kind: "down", mode: "no-healthy-upstream" },
    { atMs: 5000, cluster: "x", kind: "recover" },
    { atMs: 6000, cluster: "x", kind: "errorRate", rate: 0.25 },
  ];
  const envoy = (endpoints: number, outlierDetection?: OutlierConfig, healthyPanicThreshold = 50): EnvoyClusterSpec =>
    ({ endpoints, lbPolicy: "ROUND_ROBIN", healthyPanicThreshold, outlierDetection });
  const model = new UpstreamModel(new Map([["x", { latencyMs: 7, envoy: envoy(4) }]]), events, new Random(1));
  const wire = (w: Wire) => (w.kind === "no-host" ? w : { ...w, host: undefined });

  it("applies each event from its time on and recover restores the base latency", () => {
    expect(wire(model.attempt("x"))).toEqual({ kind: "response", code: 200, ms: 7, host: undefined });
    model.advanceTo(1000);
    expect(wire(model.attempt("x"))).toEqual({ kind: "connect-failure", ms: 1, host: undefined });
    model.advanceTo(2500);
    expect(wire(model.attempt("x"))).toEqual({ kind: "response", code: 200, ms: 7, host: undefined });
    model.advanceTo(3000);
    expect(wire(model.attempt("x"))).toEqual({ kind: "response", code: 200, ms: 900, host: undefined });
    model.advanceTo(4000);
    expect(model.hasHosts("x")).toBe(false);
    expect(model.attempt("x")).toEqual({ kind: "no-host" });
    model.advanceTo(5000);
    expect(model.hasHosts("x")).toBe(true);
    expect(wire(model.attempt("x"))).toEqual({ kind: "response", code: 200, ms: 7, host: undefined });
  });

  it("round robin over the endpoints meets the failing share of them, each endpoint by its ip:port", () => {
    model.advanceTo(6000);
    const attempts = Array.from({ length: 400 }, () => model.attempt("x"));
    const failed = attempts.filter((w) => w.kind === "response" && w.code === 503);
    expect(failed).toHaveLength(100); // 1 of 4 endpoints, every 4th attempt
    const addresses = new Set(attempts.map((w) => (w.kind === "no-host" ? "" : w.host.address)));
    expect([...addresses].sort()).toEqual(["10.128.0.0:8080", "10.128.0.1:8080", "10.128.0.2:8080", "10.128.0.3:8080"]);
    expect(new Set(failed.map((w) => (w.kind === "no-host" ? "" : w.host.address))).size).toBe(1);
  });

  it("spreads failing endpoints evenly and keeps 4 of 14 within 9 of 14", () => {
    const set = (k: number) => Array.from({ length: 14 }, (_, j) => j).filter((j) => isFailingEndpoint(j, k, 14));
    expect(set(4)).toEqual([3, 6, 10, 13]);
    expect(set(9)).toEqual(expect.arrayContaining(set(4)));
    expect(set(9)).toHaveLength(9);
    expect(set(14)).toHaveLength(14);
  });

  it("stops sending to endpoints Envoy's outlier detection ejected, until it answers no healthy upstream", () => {
    const od: OutlierConfig = { ...OUTLIER_DEFAULTS, consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100, enforcingConsecutive5xx: 0, maxEjectionPercent: 100, maxEjectionTimeMs: 300_000 };
    const m = new UpstreamModel(new Map([["z", { latencyMs: 5, envoy: envoy(14, od, 0) }]]),
      [{ atMs: 0, cluster: "z", kind: "errorRate", rate: 4 / 14 }, { atMs: 5000, cluster: "z", kind: "errorRate", rate: 1 }], new Random(2));
    const drive = (n: number, at: number) => Array.from({ length: n }, () => {
      const w = m.attempt("z");
      if (w.kind !== "no-host") m.report("z", w.host, w.kind === "response" ? [{ kind: "connect-success" }, { kind: "http", code: w.code }] : [{ kind: "connect-failed" }], at);
      return w;
    });
    m.advanceTo(0);
    const first = drive(200, 10);
    // Each failing endpoint answers 3 times (the 3 gateway errors that eject it), then never again.
    expect(first.filter((w) => w.kind === "response" && w.code === 503)).toHaveLength(12);
    expect(m.ejected("z")).toBe(4);
    expect(first.slice(-100).every((w) => w.kind === "response" && w.code === 200)).toBe(true);
    m.advanceTo(5000);
    drive(200, 5000);
    expect(m.ejected("z")).toBe(14);
    expect(m.attempt("z")).toEqual({ kind: "no-host" });
    expect(m.hasHosts("z")).toBe(false);
  });

  it("refuses a cluster it does not know", () => {
    expect(() => model.attempt("y")).toThrow(/no upstream model for cluster "y"/);
  });
});

describe("Envoy's outlier detection for hosts", () => {
  const config = (o: Partial<OutlierConfig> = {}): OutlierConfig => ({ ...OUTLIER_DEFAULTS, maxEjectionTimeMs: 300_000, ...o });
  const fail = (d: OutlierDetector, host: number, n: number, at: number, code = 503) => {
    for (let i = 0; i < n; i++) d.put(host, { kind: "http", code }, at);
  };

  it("ejects on 5 consecutive 5xx by default; gateway failures are detected but not enforced", () => {
    const d = new OutlierDetector(config({ maxEjectionPercent: 100 }), 4, new Random(1), 0);
    fail(d, 0, 4, 1);
    d.put(0, { kind: "http", code: 200 }, 1); // a success resets the run
    fail(d, 0, 4, 1);
    expect(d.isEjected(0)).toBe(false);
    fail(d, 0, 1, 1);
    expect(d.isEjected(0)).toBe(true);
    expect(d.log[0]).toMatchObject({ host: 0, action: "eject", type: "consecutive-5xx" });
  });

  it("a connect failure counts as a 503 without the split, as a local-origin failure with it", () => {
    const plain = new OutlierDetector(config({ consecutive5xx: 2, maxEjectionPercent: 100 }), 2, new Random(1), 0);
    plain.put(0, { kind: "connect-failed" }, 1);
    plain.put(0, { kind: "connect-failed" }, 1);
    expect(plain.isEjected(0)).toBe(true);
    const split = new OutlierDetector(config({ consecutive5xx: 2, consecutiveLocalOriginFailure: 1, splitExternalLocalOriginErrors: true, maxEjectionPercent: 100 }), 2, new Random(1), 0);
    split.put(1, { kind: "connect-failed" }, 1);
    expect(split.log[0]).toMatchObject({ host: 1, type: "consecutive-local-origin-failure" });
  });

  it("keeps ejections within max_ejection_percent, counted with the host to eject", () => {
    const d = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 50 }), 4, new Random(1), 0);
    for (let h = 0; h < 4; h++) fail(d, h, 1, 1);
    expect(d.ejectedCount()).toBe(2); // a third would make 75%
    const one = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 10, alwaysEjectOneHost: true }), 4, new Random(1), 0);
    for (let h = 0; h < 4; h++) fail(one, h, 1, 1);
    expect(one.ejectedCount()).toBe(1);
  });

  it("un-ejects on the interval timer once base x ejections has passed, and the time shrinks back", () => {
    const d = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 100, intervalMs: 10_000, baseEjectionTimeMs: 30_000 }), 2, new Random(1), 0);
    fail(d, 0, 1, 5_000);
    d.advanceTo(30_000);
    expect(d.isEjected(0)).toBe(true); // 25 s at the 30 s tick
    d.advanceTo(40_000);
    expect(d.isEjected(0)).toBe(false); // 35 s at the 40 s tick
    fail(d, 0, 1, 41_000); // second ejection: 60 s
    d.advanceTo(100_000);
    expect(d.isEjected(0)).toBe(true); // 59 s
    d.advanceTo(110_000);
    expect(d.isEjected(0)).toBe(false);
    // Healthy for three intervals: the backoff counts down from 2 to 0, so the next ejection is 30 s again.
    d.advanceTo(140_000);
    fail(d, 0, 1, 141_000);
    d.advanceTo(180_000);
    expect(d.isEjected(0)).toBe(false);
    expect(d.log.filter((e) => e.action === "eject")).toHaveLength(3);
  });
});

describe("Envoy's host choice inside a cluster", () => {
  it("uses healthy hosts unless the cluster is in panic, and no panic at a threshold of 0", () => {
    expect(priorityHealth(10, 14)).toBe(100);
    expect(priorityHealth(5, 14)).toBe(50);
    expect(inPanic(10, 14, 50)).toBe(false); // health 100: never panic
    expect(inPanic(5, 14, 50)).toBe(true); // 35.7% healthy < 50
    expect(inPanic(5, 14, 0)).toBe(false);
    expect(inPanic(0, 14, 0)).toBe(false);
    const b = new HostBalancer("ROUND_ROBIN", new Random(1));
    const healthy = (h: number) => h < 5;
    const panicPicks = new Set(Array.from({ length: 28 }, () => b.pick(14, healthy, 50)));
    expect(panicPicks.size).toBe(14);
    const picks = new Set(Array.from({ length: 28 }, () => b.pick(14, healthy, 0)));
    expect([...picks].sort((x, y) => x! - y!)).toEqual([0, 1, 2, 3, 4]);
    expect(b.pick(14, () => false, 0)).toBeUndefined();
    const r = new HostBalancer("RANDOM", new Random(1));
    expect(new Set(Array.from({ length: 200 }, () => r.pick(14, healthy, 0)))).toEqual(new Set([0, 1, 2, 3, 4]));
  });
});

describe("the report", () => {
  // 100 requests a second for 60 s; `to(t)` says where the request arriving at t ms went.
  const run = (to: (t: number) => string, errors: (t: number) => boolean = () => false): RequestRecord[] =>
    Array.from({ length: 6000 }, (_, i) => {
      const t = i * 10;
      return { arrivalMs: t, endMs: t + 5, first: to(t), chosen: to(t), reason: "local", attempts: 1, code: errors(t) ? 503 : 200, flags: 0, address: undefined };
    });
  const scenario = (events: UpstreamEvent[]): SimulateCase => ({
    scenario: "test", name: "t", description: "", config: {}, routingHeader: "x-failover-upstream",
    clusters: ["a", "b"], aggregates: new Map(), requests: [], where: () => "",
    traffic: { rate: 100, durationMs: 60_000, intervalMs: 1000, clients: 1 },
    latencyMs: new Map([["a", 5], ["b", 5]]), events, maxConcurrentRetries: 3,
    envoyClusters: new Map(["a", "b"].map((n) => [n, { endpoints: 1, lbPolicy: "ROUND_ROBIN", healthyPanicThreshold: 50, outlierDetection: undefined }])),
  });
  const failure: UpstreamEvent[] = [
    { atMs: 10_000, cluster: "a", kind: "down", mode: "http-503" },
    { atMs: 30_000, cluster: "a", kind: "recover" },
  ];

  it("measures failover and failback of a clean switch to the request", () => {
    const records = run((t) => (t >= 10_300 && t < 32_000 ? "b" : "a"), (t) => t >= 10_000 && t < 10_300);
    const [e] = eventOutcomes(scenario(failure), records);
    expect(e).toMatchObject({ cluster: "a", shareBefore: 100, errors: 30, recoveredAt: 30, flapping: false });
    // Windows are 200 requests: the share is below 5% from the first window with at most 9 of its
    // requests on a (10.21 s), and back within 5 points from the first with at most 10 on b.
    expect(e.failover).toBe(0.21);
    expect(e.failback).toBe(1.9);
  });

  it("tolerates probes below 5% and reports no failover when the share never drops", () => {
    const probing = run((t) => (t >= 10_000 && t < 30_000 ? (t % 5000 === 0 ? "a" : "b") : "a"));
    expect(eventOutcomes(scenario(failure), probing)[0].failover).toBe(0);
    const [stuck] = eventOutcomes(scenario(failure), run(() => "a"));
    expect(stuck.failover).toBeNull();
    expect(stuck.failback).toBeNull();
  });

  it("calls a share that swings back and forth after recovery flapping, not a noisy ramp", () => {
    const swinging = run((t) => (t >= 10_000 && t < 30_000 ? "b" : t >= 30_000 && Math.floor(t / 4000) % 2 === 0 ? "b" : "a"));
    expect(eventOutcomes(scenario(failure), swinging)[0].flapping).toBe(true);
    // A ramp from 0 to 100% over 20 s whose requests alternate near the midpoint.
    const ramp = run((t) => {
      if (t < 10_000) return "a";
      if (t < 30_000) return "b";
      const p = Math.min(1, (t - 30_000) / 20_000);
      return (t / 10) % 100 < p * 100 + ((t / 10) % 2 ? 5 : -5) ? "a" : "b";
    });
    const [e] = eventOutcomes(scenario(failure), ramp);
    expect(e.flapping).toBe(false);
    expect(e.failback).not.toBeNull();
  });

  it("builds one timeline row per interval with shares, errors and events", () => {
    const records = run((t) => (t < 10_500 ? "a" : "b"), (t) => t >= 10_000 && t < 10_200);
    const rows = timeline(scenario(failure), records);
    expect(rows).toHaveLength(60);
    expect(rows[9]).toMatchObject({ at: 9, requests: 100, share: { a: 100, b: 0 }, errors: 0, events: [] });
    expect(rows[10]).toMatchObject({ at: 10, share: { a: 50, b: 50 }, errors: 20, events: ["a down (http-503)"] });
    expect(rows[30].events).toEqual(["a recovers"]);
  });
});
