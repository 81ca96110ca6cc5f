// Which cluster an outcome is credited to, and which outcomes count at all, through the real
// module: Envoy's attempt count missing (before 1.33), failures a client causes on purpose,
// and failures from too few distinct sources (health.outlierDetection.minSources).
// Envoy sources: test/data/ENVOY-HOST-NOTES.md, "Outcomes at on_log".
import { describe, expect, it } from "vitest";
import { SharedData, type PropertyTree } from "../extproc/host/index.js";
import { Failover } from "./support/failover.js";

const CLUSTERS = [
  { name: "a", region: "r1", zone: "z1", hosts: ["svc"] },
  { name: "b", region: "r2", zone: "z2", hosts: ["svc"] },
];
const plain = (health: object = {}) => ({
  locality: { region: "r1", zone: "z1" },
  clusters: CLUSTERS,
  routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["a", "b"] } }],
  health,
});
const acrossClusters = (health: object = {}) => ({
  ...plain(health),
  aggregates: [{ name: "a-then-b", clusters: ["a", "b"] }, { name: "b-then-a", clusters: ["b", "a"] }],
  routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["a", "b"] }, retry: { acrossClusters: true, numRetries: 1 } }],
});

/** One request, then on_log with exactly the properties given (nothing filled in). */
function exchange(f: Failover, code: number, log: PropertyTree, request: PropertyTree = {}) {
  const s = f.request("svc", [], "/", request);
  if (code > 0) s.sendResponseHeaders([[":status", String(code)]], true);
  s.end({ response: { code, flags: 0 }, ...log });
  if (f.vm.failure) throw f.vm.failure;
  return s;
}
const window = (f: Failover) => {
  f.advance(250);
  return Object.fromEntries(f.plan().clusters.map((c) => [c.name, { requests: c.requests, failures: c.failures, ejected: c.ejected }]));
};

describe("Envoy < 1.33: no upstream.request_attempt_count", () => {
  it("an aggregate's outcome goes to no cluster when Envoy does not say which child answered", () => {
    const f = new Failover(acrossClusters());
    // Envoy 1.32: a failed on a, rescued by the retry on b. xds.cluster_name is the route's
    // cluster, the aggregate; no attempt count, no upstream locality.
    for (let i = 0; i < 10; i++) exchange(f, 200, { xds: { cluster_name: "a-then-b" } });
    // Before: a was credited with 10 successes it never served.
    expect(window(f)).toEqual({ a: { requests: 0, failures: 0, ejected: false }, b: { requests: 0, failures: 0, ejected: false } });
  });

  it("a child's locality does not make a guess either (the filter names no child without the count)", () => {
    const f = new Failover(acrossClusters());
    exchange(f, 503, { xds: { cluster_name: "a-then-b" }, upstream: { locality: { region: "r2", zone: "z2" } } });
    expect(window(f)).toMatchObject({ a: { requests: 0 }, b: { requests: 0 } });
  });

  it("a plain cluster keeps the final outcome (retries stay in it), without inventing earlier attempts", () => {
    const f = new Failover(plain({ outlierDetection: { consecutive5xx: 0 } }));
    const s = exchange(f, 503, {});
    expect(window(f)[s.requestHeaders.get("x-failover-upstream")!]).toEqual({ requests: 1, failures: 1, ejected: false });
  });

  it("with the count (Envoy 1.33+) every attempt is still credited in failover order", () => {
    const f = new Failover(acrossClusters({ outlierDetection: { consecutive5xx: 0 } }));
    let named = "";
    for (let i = 0; i < 20 && named !== "a-then-b"; i++) {
      named = exchange(f, 200, { upstream: { request_attempt_count: 2 } }).requestHeaders.get("x-failover-upstream")!;
    }
    expect(named).toBe("a-then-b");
    const w = window(f);
    expect(w.a.failures).toBeGreaterThan(0);
    expect(w.b.failures).toBe(0);
  });
});

describe("failures a client can cause do not count against the upstream", () => {
  const counted = (log: PropertyTree, code: number) => {
    const f = new Failover(plain({ outlierDetection: { consecutive5xx: 0 } }));
    const s = exchange(f, code, log);
    return window(f)[s.requestHeaders.get("x-failover-upstream")!];
  };

  it("a 4xx never counts, whatever the flags", () => {
    // 404, then the upstream reset the stream (UR, 0x10): was a local-origin failure before.
    expect(counted({ response: { code: 404, flags: 0x10 } }, 404)).toEqual({ requests: 1, failures: 0, ejected: false });
    expect(counted({ response: { code: 408, flags: 0x4 } }, 408)).toEqual({ requests: 1, failures: 0, ejected: false });
  });

  it.each([
    ["downstream_remote_disconnect", 503],
    ["downstream_local_disconnect(http2_ping_timeout)", 503],
    ["request_overall_timeout", 504],
    ["request_payload_exceeded_retry_buffer_limit", 503],
    ["http2.violation.of.messaging.rule", 502],
  ])("a local reply the downstream caused (%s) is not recorded", (details, code) => {
    expect(counted({ response: { code, flags: 0, code_details: details } }, code)).toEqual({ requests: 0, failures: 0, ejected: false });
  });

  it("a downstream protocol error (DPE) before any answer is not recorded", () => {
    expect(counted({ response: { code: 0, flags: 0x40000 } }, 0)).toEqual({ requests: 0, failures: 0, ejected: false });
  });

  it("the upstream's own failures still count", () => {
    expect(counted({ response: { code: 503, flags: 0, code_details: "via_upstream" } }, 503)).toMatchObject({ failures: 1 });
    expect(counted({ response: { code: 503, flags: 0x20, code_details: "upstream_reset_before_response_started{connection_failure}" } }, 503)).toMatchObject({ failures: 1 });
    expect(counted({ response: { code: 504, flags: 0x4, code_details: "response_timeout" } }, 504)).toMatchObject({ failures: 1 });
  });
});

describe("health.outlierDetection.minSources", () => {
  const from = (ip: string, port = 40000) => ({ source: { address: `${ip}:${port}` } });
  const fail = (f: Failover, ip: string, port?: number) => exchange(f, 503, {}, from(ip, port));
  const toA = (health: object) => ({
    ...plain(health),
    routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["a", "b"] } }],
  });

  it("five 503s from one client no longer eject a healthy cluster for everyone (minSources 2)", () => {
    const f = new Failover(toA({ outlierDetection: { minSources: 2 } }));
    for (let i = 0; i < 5; i++) fail(f, "10.0.0.7", 40000 + i); // new connections: other ports, same client
    const w = window(f);
    expect(w.a).toEqual({ requests: 0, failures: 0, ejected: false });
    expect(f.route().split.a).toBe(100);
    expect(f.plan().clusters.find((c) => c.name === "a")!.score).toBe(100);
  });

  it("the same failures from two sources eject it", () => {
    const f = new Failover(toA({ outlierDetection: { minSources: 2 } }));
    for (let i = 0; i < 4; i++) fail(f, "10.0.0.7");
    fail(f, "10.0.0.8");
    const w = window(f);
    expect(w.a).toEqual({ requests: 5, failures: 5, ejected: true });
    expect(f.route().split.a).toBe(0);
  });

  it("default 1 is Envoy's behaviour: one client's five 503s eject", () => {
    const f = new Failover(toA({}));
    for (let i = 0; i < 5; i++) fail(f, "10.0.0.7");
    expect(window(f).a.ejected).toBe(true);
  });

  it("seed 004's consecutive 1 with minSources 2: one failure from each of two clients switches over", () => {
    const f = new Failover(toA({ outlierDetection: { consecutive5xx: 1, minSources: 2 } }));
    fail(f, "10.0.0.7");
    fail(f, "10.0.0.7");
    expect(window(f).a.ejected).toBe(false);
    fail(f, "[2001:db8::9]");
    expect(window(f).a.ejected).toBe(true);
  });

  it("sources are counted per outlier interval: an old source does not help a new one", () => {
    const f = new Failover(toA({ outlierDetection: { consecutive5xx: 1, minSources: 2, interval: "10s" } }));
    fail(f, "10.0.0.7");
    f.advance(10_000);
    fail(f, "10.0.0.8");
    expect(window(f).a.ejected).toBe(false);
    fail(f, "10.0.0.9");
    expect(window(f).a.ejected).toBe(true);
  });

  it("a success in between ends the run as in Envoy, but the window still counts the failures", () => {
    const f = new Failover(toA({ outlierDetection: { consecutive5xx: 3, minSources: 2 } }));
    fail(f, "10.0.0.7");
    fail(f, "10.0.0.7");
    exchange(f, 200, {}, from("10.0.0.1"));
    fail(f, "10.0.0.8");
    const w = window(f);
    expect(w.a).toEqual({ requests: 4, failures: 3, ejected: false });
  });

  it("worker VMs share the sources through the record (compare-and-swap)", () => {
    const shared = new SharedData();
    const policy = toA({ outlierDetection: { consecutive5xx: 2, minSources: 2 } });
    const w1 = new Failover(policy, { shared });
    const w2 = new Failover(policy, { shared });
    fail(w1, "10.0.0.7");
    expect(window(w2).a.ejected).toBe(false);
    fail(w2, "10.0.0.8");
    expect(window(w1).a.ejected).toBe(true);
  });

  it("is refused outside 1..7 (the sources one shared record remembers)", () => {
    expect(() => new Failover(toA({ outlierDetection: { minSources: 8 } }))).toThrow(/minSources: must be between 1 and 7, got 8/);
    expect(() => new Failover(toA({ outlierDetection: { minSources: 0 } }))).toThrow(/minSources/);
  });
});
