// Endpoint health in the filter (issue 15), on the real module: the endpoint of each attempt is
// Envoy's `upstream.address` at on_log; per cluster the module keeps a bounded table of the
// endpoints it saw with Envoy's per-host outlier rules, and feeds Envoy's arithmetic the share of
// healthy endpoints. Envoy sources: test/data/ENVOY-HOST-NOTES.md, "Endpoint health in the filter".
import { describe, expect, it } from "vitest";
import { SharedData, type HttpStream } from "../extproc/host/index.js";
import { Failover } from "./support/failover.js";

const UF = 0x20; // upstream connection failure
const UH = 0x2; // no healthy upstream

const policy = (outlierDetection: object = {}, endpoints = 4, health: object = {}) => ({
  locality: { region: "r1", zone: "a" },
  clusters: [
    { name: "near", region: "r1", zone: "a", hosts: ["svc"], endpoints },
    { name: "far", region: "r2", zone: "b", hosts: ["svc"], endpoints },
  ],
  routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["near", "far"] } }],
  health: {
    refreshInterval: "250ms",
    outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 3, interval: "10s", baseEjectionTime: "10s", maxEjectionPercent: 100, ...outlierDetection },
    ...health,
  },
});
const ip = (i: number) => `10.0.${i >> 8}.${i & 255}:8080`;

/**
 * One request; if the module sent it to `near`, Envoy answers `code` from endpoint `address`
 * (none: the property is absent); `far` always answers 200 from its own endpoint.
 */
function hit(f: Failover, code: number, address?: string, opts: { flags?: number; headers?: [string, string][] } = {}): string {
  const s: HttpStream = f.request("svc", opts.headers ?? []);
  const cluster = s.requestHeaders.get("x-failover-upstream")!;
  const near = cluster === "near";
  const status = near ? code : 200;
  if (status > 0) s.sendResponseHeaders([[":status", String(status)]], true);
  const addr = near ? address : "10.9.0.1:8080";
  s.end({
    response: { code: status, flags: near ? (opts.flags ?? 0) : 0 },
    upstream: { request_attempt_count: 1, ...(addr !== undefined ? { address: addr } : {}) },
    xds: { cluster_name: cluster },
  });
  if (f.vm.failure) throw f.vm.failure;
  return cluster;
}
/** Requests until one goes to `near` (the split may send some to `far`), answered as `hit` does. */
function hitNear(f: Failover, code: number, address?: string, opts: { flags?: number } = {}): void {
  for (let i = 0; i < 1000; i++) if (hit(f, code, address, opts) === "near") return;
  throw new Error("no request went to near");
}
const near = (f: Failover) => f.plan().clusters.find((c) => c.name === "near")!;

describe("an endpoint's own outlier detection (Envoy's per-host rules)", () => {
  it("three gateway errors in a row at one endpoint eject that endpoint, not the cluster, whatever the others answer", () => {
    const f = new Failover(policy());
    // Before the endpoint table these 503s counted on the cluster's run, which each success of
    // another endpoint reset: nothing was ever ejected, and the zone kept 100% of the traffic.
    for (let i = 0; i < 3; i++) {
      hit(f, 503, ip(1));
      hit(f, 200, ip(2));
      hit(f, 200, ip(3));
    }
    // The ejection re-plans at once: 3 of 4 healthy, 140 x 3/4 = 105 -> near keeps 100%.
    expect(near(f)).toMatchObject({ healthFrom: "endpoints", endpoints: 4, ejectedEndpoints: 1, ejected: false });
    expect(f.route().split).toEqual({ near: 100, far: 0 });
    // A second endpoint out: 2 of 4, 140 x 2/4 = 70% stays, 30% spills to far (Envoy's arithmetic).
    for (let i = 0; i < 3; i++) hit(f, 503, ip(2));
    expect(near(f)).toMatchObject({ ejectedEndpoints: 2, ejected: false });
    expect(f.route().split).toEqual({ near: 70, far: 30 });
    f.advance(250);
    expect(f.route().split).toEqual({ near: 70, far: 30 });
  });

  it("a success at the endpoint ends its run; one at another endpoint does not", () => {
    const f = new Failover(policy());
    hit(f, 503, ip(1));
    hit(f, 503, ip(1));
    hit(f, 200, ip(1));
    hit(f, 503, ip(1));
    hit(f, 503, ip(1));
    f.advance(250);
    expect(near(f).ejectedEndpoints).toBe(0);
    hit(f, 200, ip(2));
    hit(f, 503, ip(1));
    expect(near(f).ejectedEndpoints).toBe(1);
  });

  it("the ejection time grows with each ejection (base x ejections, capped at the max) and shrinks while back", () => {
    const f = new Failover(policy({ baseEjectionTime: "10s", maxEjectionTime: "25s", interval: "10s" }));
    const eject = () => { for (let i = 0; i < 3; i++) hit(f, 503, ip(1)); };
    const out = () => { hit(f, 200, ip(2)); f.advance(250); return near(f).ejectedEndpoints; };
    eject();
    expect(out()).toBe(1);
    f.advance(9_000);
    expect(out()).toBe(1);
    f.advance(1_000);
    hit(f, 200, ip(1)); // Envoy sends to it again
    expect(out()).toBe(0);
    eject(); // second ejection: 20 s
    f.advance(19_000);
    expect(out()).toBe(1);
    f.advance(1_500);
    hit(f, 200, ip(1));
    expect(out()).toBe(0);
    eject(); // third: 30 s, capped at 25 s
    f.advance(24_000);
    expect(out()).toBe(1);
    f.advance(1_500);
    hit(f, 200, ip(1));
    expect(out()).toBe(0);
    // Back and healthy for three intervals: the multiplier drops from 3 to 0, so the next is 10 s.
    for (let t = 0; t < 31; t++) { hit(f, 200, ip(1)); f.advance(1_000); }
    eject();
    f.advance(9_000);
    expect(out()).toBe(1);
    f.advance(1_500);
    hit(f, 200, ip(1));
    expect(out()).toBe(0);
  });

  it("max_ejection_percent bounds the endpoints out; when it allows none, none is ejected (always_eject_one_host is off)", () => {
    const half = new Failover(policy({ maxEjectionPercent: 50 }));
    for (const e of [1, 2, 3]) for (let i = 0; i < 3; i++) hit(half, 503, ip(e));
    expect(near(half).ejectedEndpoints).toBe(2);
    // 1 of 4 is 25%, above 20: Envoy ejects none.
    const none = new Failover(policy({ maxEjectionPercent: 20 }));
    for (const e of [1, 2]) for (let i = 0; i < 6; i++) hit(none, 503, ip(e));
    none.advance(250);
    expect(near(none)).toMatchObject({ healthFrom: "endpoints", ejectedEndpoints: 0 });
  });
});

describe("the endpoint table is bounded, and forgets endpoints that stop appearing", () => {
  it("more endpoints than the table holds (32): the least recently seen healthy one makes room, the ejected stay", () => {
    const f = new Failover(policy({}, 4));
    for (const e of [1, 2]) for (let i = 0; i < 3; i++) hit(f, 503, ip(e));
    // Endpoint 3 has a run of 2, then 40 other endpoints answer.
    hit(f, 503, ip(3));
    hit(f, 503, ip(3));
    for (let e = 100; e < 140; e++) hitNear(f, 200, ip(e));
    f.advance(250);
    // 32 slots: the 2 ejected, and the 30 most recent; the count is what the table holds.
    expect(near(f)).toMatchObject({ endpoints: 32, ejectedEndpoints: 2 });
    // Endpoint 3 was dropped with its run: one more 503 starts a new run instead of ejecting it.
    hitNear(f, 503, ip(3));
    expect(near(f).ejectedEndpoints).toBe(2);
    // The shared record keeps its size (the table is fixed).
    expect(f.vm.shared.get("failover", "failover.health.near")!.value.length).toBe(2148);
  });

  it("an endpoint Envoy stops naming is forgotten after a window (and an interval more once re-admitted); then the policy's count is back", () => {
    const f = new Failover(policy({}, 1, { window: "10s" }));
    for (let e = 1; e <= 3; e++) hit(f, 200, ip(e));
    f.advance(250);
    expect(near(f)).toMatchObject({ healthFrom: "endpoints", endpoints: 3, ejectedEndpoints: 0 });
    for (let i = 0; i < 3; i++) hit(f, 503, ip(3));
    expect(near(f).ejectedEndpoints).toBe(1);
    // Endpoints 1 and 2 go on answering; 3 (ejected by Envoy too) is not named any more.
    const tick = (ms: number) => { for (let t = 0; t < ms; t += 500) { hit(f, 200, ip(1)); hit(f, 200, ip(2)); f.advance(500); } };
    tick(10_500);
    // Its ejection is over, but Envoy has not named it while it named others: Envoy's interval
    // timer re-admits up to an interval later, so it still counts as out.
    expect(near(f)).toMatchObject({ endpoints: 3, ejectedEndpoints: 1 });
    tick(10_000);
    expect(near(f)).toMatchObject({ endpoints: 3, ejectedEndpoints: 0 });
    tick(10_500);
    expect(near(f)).toMatchObject({ endpoints: 2, ejectedEndpoints: 0 });
    // Nothing named for a window: no endpoint identity left, the success rate decides again.
    f.advance(10_500);
    expect(near(f).healthFrom).toBe("success-rate");
    expect(near(f).endpoints).toBeUndefined();
  });
});

describe("without endpoint identity: the success-rate estimate, as before", () => {
  it("no upstream.address (Envoy before the attribute, or a peer that does not send it): the cluster's own runs decide, and the plan says so", () => {
    const f = new Failover(policy());
    hit(f, 200);
    f.advance(250);
    expect(near(f).healthFrom).toBe("success-rate");
    expect(near(f).endpoints).toBeUndefined();
    for (let i = 0; i < 3; i++) hit(f, 503);
    expect(near(f)).toMatchObject({ ejected: true, healthFrom: "success-rate" });
  });

  it("assumed health says so", () => {
    const f = new Failover({ ...policy(), assume: { near: { healthy: 2, total: 4 } } });
    expect(near(f).healthFrom).toBe("assumed");
  });

  it("a client header named like the property changes nothing: the endpoint comes from Envoy, never from a header", () => {
    const f = new Failover(policy());
    for (let i = 0; i < 3; i++) hit(f, 503, undefined, { headers: [["upstream.address", ip(7)], ["x-envoy-upstream-host", ip(7)]] });
    // The cluster's own run ejected it (no endpoint known), exactly as without the headers.
    expect(near(f)).toMatchObject({ ejected: true, healthFrom: "success-rate" });
    const g = new Failover(policy());
    for (let i = 0; i < 3; i++) hit(g, 503, ip(1), { headers: [["upstream.address", ip(50 + i)]] });
    expect(near(g)).toMatchObject({ healthFrom: "endpoints", endpoints: 4, ejectedEndpoints: 1, ejected: false });
  });
});

describe("whole-cluster signals stay fast", () => {
  it("connect failures at every endpoint take the cluster out at once (local-origin runs count for the cluster too)", () => {
    const f = new Failover(policy({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 3 }));
    hit(f, 0, ip(1), { flags: UF });
    hit(f, 0, ip(2), { flags: UF });
    expect(near(f).ejected).toBe(false);
    hit(f, 0, ip(3), { flags: UF });
    expect(near(f)).toMatchObject({ ejected: true, score: 0 });
    expect(f.route().split).toEqual({ near: 0, far: 100 });
  });

  it("no healthy upstream (no endpoint named) takes it out at once", () => {
    const f = new Failover(policy({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 3 }));
    for (let i = 0; i < 3; i++) hit(f, 503, undefined, { flags: UH });
    expect(near(f).ejected).toBe(true);
  });

  it("the last endpoint's ejection ejects the cluster", () => {
    const f = new Failover(policy({}, 2));
    for (let i = 0; i < 3; i++) hit(f, 503, ip(1));
    expect(near(f)).toMatchObject({ ejected: false, ejectedEndpoints: 1 });
    for (let i = 0; i < 3; i++) hitNear(f, 503, ip(2));
    expect(near(f)).toMatchObject({ ejected: true, ejectedEndpoints: 2 });
    expect(f.logs.some((l) => l.message.includes("ejected cluster near"))).toBe(true);
  });
});

describe("workers (one VM per Envoy worker thread) share the endpoint table", () => {
  it("failures from two workers eject the endpoint at once; the other worker follows at its next tick", () => {
    const shared = new SharedData();
    const a = new Failover(policy(), { shared });
    const b = new Failover(policy(), { shared });
    hit(a, 503, ip(1));
    hit(b, 503, ip(1));
    hit(a, 503, ip(1));
    // a wrote the third failure: the shared record has the ejection, a re-planned at once.
    expect(near(a).ejectedEndpoints).toBe(1);
    // b sees it by its next refresh, within one refresh interval (250 ms).
    b.advance(250);
    expect(b.plan().clusters.find((c) => c.name === "near")!.ejectedEndpoints).toBe(1);
  });

  it("a worker's successes reach the shared record at its next tick (at most one refresh interval late), or before its next failure", () => {
    const shared = new SharedData();
    const a = new Failover(policy(), { shared });
    const b = new Failover(policy(), { shared });
    for (let i = 0; i < 10; i++) hit(a, 200, ip(1));
    b.advance(250);
    expect(b.plan().clusters.find((c) => c.name === "near")!.requests).toBe(0);
    a.advance(250);
    b.advance(250);
    expect(b.plan().clusters.find((c) => c.name === "near")!.requests).toBe(10);
    // Before a failure, the worker's own earlier successes are merged first, in order: the
    // success between the 503s ends the run, so three 503s in all do not eject.
    hit(a, 503, ip(2));
    hit(a, 503, ip(2));
    hit(a, 200, ip(2));
    hit(a, 503, ip(2));
    expect(near(a).ejectedEndpoints).toBe(0);
    expect(shared.get("failover", "failover.health.near")).toBeDefined();
  });
});
