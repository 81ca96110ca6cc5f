// The request path on the real module: routing and explanation headers, spoofed headers, modes,
// priorities, retries and the retry budget, affinity, no-route, response explanation, metrics.
import { describe, expect, it } from "vitest";
import { ConfigurationError } from "../extproc/host/index.js";
import { Failover } from "./support/failover.js";

const edge = (extra: object = {}, route: object = {}) => ({
  locality: { region: "region-1", zone: "zone-a" },
  clusters: [
    { name: "cluster-1", region: "region-1", zone: "zone-a", hosts: ["bookinfo.example.com"] },
    { name: "cluster-2", region: "region-2", zone: "zone-b", hosts: ["bookinfo.example.com", "*.reviews.example.com"] },
    { name: "cluster-3", region: "region-3", zone: "zone-c", hosts: ["other.example.com"] },
  ],
  routes: [{ name: "bookinfo", match: { authority: "bookinfo.example.com" }, destination: { mode: "auto" }, ...route }],
  ...extra,
});

describe("routing header and explanation", () => {
  it("names the chosen cluster and explains the choice", () => {
    const f = new Failover(edge());
    const s = f.request("bookinfo.example.com:443");
    const h = s.requestHeaders;
    expect(h.get("x-failover-upstream")).toBe("cluster-1");
    expect(h.get("x-failover-cluster")).toBe("cluster-1");
    expect(h.get("x-failover-priority")).toBe("0");
    expect(h.get("x-failover-reason")).toBe("local");
    expect(h.get("x-failover-score")).toBe("100");
    expect(h.get("x-failover-decision")).toBe("route=bookinfo cluster=cluster-1 priority=0 reason=local score=100 split=cluster-1:100.00,cluster-2:0.00");
    expect(s.routeCacheCleared).toBe(true);
  });

  it("removes every routing and explanation header a client sent, and client retry headers", () => {
    const f = new Failover(edge({}, { destination: { mode: "named", clusters: ["cluster-2"] } }));
    const s = f.request("bookinfo.example.com", [
      ["x-failover-upstream", "cluster-3"], ["X-Failover-Upstream", "cluster-1"], ["x-failover-reason", "forged"],
      ["x-failover-decision", "forged"], ["x-envoy-retry-on", "5xx"], ["x-envoy-max-retries", "50"],
    ]);
    const h = s.requestHeaders;
    expect(h.getAll("x-failover-upstream")).toEqual(["cluster-2"]);
    expect(h.getAll("x-failover-reason")).toEqual(["local"]);
    expect(h.has("x-envoy-retry-on")).toBe(false);
    expect(h.has("x-envoy-max-retries")).toBe(false);
  });

  it("names no cluster when no route matches, and strips a client's choice", () => {
    const f = new Failover(edge());
    const s = f.request("unknown.example.com", [["x-failover-upstream", "cluster-3"]]);
    expect(s.requestHeaders.has("x-failover-upstream")).toBe(false);
    expect(s.requestHeaders.get("x-failover-reason")).toBe("no-route");
    expect(f.vm.metrics.value("failover.no_route_total")).toBe(1n);
  });

  it("explains on the response when asked", () => {
    const f = new Failover(edge({ explainResponse: true }));
    const s = f.exchange("bookinfo.example.com", 200);
    expect(s.responseHeaders.get("x-failover-cluster")).toBe("cluster-1");
    expect(s.responseHeaders.get("x-failover-decision")).toContain("reason=local");
    const quiet = new Failover(edge()).exchange("bookinfo.example.com", 200);
    expect(quiet.responseHeaders.has("x-failover-cluster")).toBe(false);
  });

  it("matches routes by exact host, wildcard and path prefix, first match wins", () => {
    const f = new Failover({
      clusters: [
        { name: "a", hosts: ["x"] }, { name: "b", hosts: ["x"] }, { name: "c", hosts: ["x"] },
      ],
      routes: [
        { name: "api", match: { authority: "*.example.com", pathPrefix: "/api" }, destination: { mode: "named", clusters: ["a"] } },
        { name: "web", match: { authority: "www.example.com" }, destination: { mode: "named", clusters: ["b"] } },
        { name: "rest", match: { authority: "*" }, destination: { mode: "named", clusters: ["c"] } },
      ],
    });
    expect(f.request("shop.example.com", [], "/api/v1").requestHeaders.get("x-failover-upstream")).toBe("a");
    expect(f.request("www.example.com", [], "/index").requestHeaders.get("x-failover-upstream")).toBe("b");
    expect(f.request("WWW.EXAMPLE.COM:8443", [], "/").requestHeaders.get("x-failover-upstream")).toBe("b");
    expect(f.request("example.com", [], "/api").requestHeaders.get("x-failover-upstream")).toBe("c");
  });
});

describe("destination modes (seed 000)", () => {
  it("auto uses every cluster that serves the route's host", () => {
    const f = new Failover(edge());
    expect(f.route().clusters.map((c) => c.name)).toEqual(["cluster-1", "cluster-2"]);
  });

  it("named uses only the listed clusters, in their locality order", () => {
    const f = new Failover(edge({}, { destination: { mode: "named", clusters: ["cluster-3", "cluster-1"] } }));
    const r = f.route();
    expect(r.clusters.map((c) => [c.name, c.priority])).toEqual([["cluster-3", 1], ["cluster-1", 0]]);
    expect(r.split).toEqual({ "cluster-3": 0, "cluster-1": 100 });
  });

  it("weighted keeps strict weights whatever the health", () => {
    const policy = edge({ assume: { "cluster-1": { ejected: true } } }, { destination: { mode: "weighted", weights: { "cluster-1": 90, "cluster-2": 10 } } });
    const f = new Failover(policy);
    const r = f.route();
    expect(r.split).toEqual({ "cluster-1": 90, "cluster-2": 10 });
    expect(r.clusters.every((c) => c.reason === "weighted")).toBe(true);
    const counts = f.sample("bookinfo.example.com", 2000);
    expect(counts["cluster-1"] / 2000).toBeGreaterThan(0.87);
    expect(counts["cluster-1"] / 2000).toBeLessThan(0.93);
  });

  it("prefers the local region and fails over to the other when it is gone", () => {
    const f = new Failover(edge({ assume: { "cluster-1": { healthy: 0, total: 1 } } }));
    const r = f.route();
    expect(r.split).toEqual({ "cluster-1": 0, "cluster-2": 100 });
    const s = f.request("bookinfo.example.com");
    expect(s.requestHeaders.get("x-failover-upstream")).toBe("cluster-2");
    expect(s.requestHeaders.get("x-failover-reason")).toBe("failover");
    expect(s.requestHeaders.get("x-failover-priority")).toBe("1");
  });

  it("shares among remote regions when the local region fails", () => {
    const f = new Failover({
      locality: { region: "region-1" },
      clusters: [
        { name: "local", region: "region-1", hosts: ["h"] },
        { name: "east", region: "region-2", hosts: ["h"] },
        { name: "west", region: "region-3", hosts: ["h"] },
      ],
      routes: [{ name: "h", match: { authority: "h" }, destination: { mode: "auto" } }],
      assume: { local: { ejected: true } },
    });
    expect(f.route().split).toEqual({ local: 0, east: 50, west: 50 });
  });
});

describe("priority rules (seeds 001, 003)", () => {
  const mesh = (priority: object, proxy: object = { region: "r1", zone: "z1", cluster: "cluster1" }) => ({
    locality: proxy,
    clusters: [
      { name: "c1-z1", region: "r1", zone: "z1", cluster: "cluster1", hosts: ["hw"] },
      { name: "c1-z2", region: "r1", zone: "z2", cluster: "cluster1", hosts: ["hw"] },
      { name: "c2-z1", region: "r1", zone: "z1", cluster: "cluster2", hosts: ["hw"] },
      { name: "c3-r2", region: "r2", zone: "z3", cluster: "cluster3", hosts: ["hw"] },
      { name: "c4-r3", region: "r3", zone: "z4", cluster: "cluster4", hosts: ["hw"] },
    ],
    routes: [{ name: "hw", match: { authority: "hw" }, destination: { mode: "auto" }, priority }],
  });
  const levels = (f: Failover) => Object.fromEntries(f.route().clusters.map((c) => [c.name, c.priority]));

  it("uses Istio's ladder by default: same zone, same region, other regions", () => {
    expect(levels(new Failover(mesh({})))).toEqual({ "c1-z1": 0, "c2-z1": 0, "c1-z2": 1, "c3-r2": 2, "c4-r3": 2 });
  });

  it("failover from a region to a region ranks that region before the rest", () => {
    expect(levels(new Failover(mesh({ failover: [{ from: "r1", to: "r3" }] })))).toEqual({ "c1-z1": 0, "c2-z1": 0, "c1-z2": 1, "c4-r3": 2, "c3-r2": 3 });
  });

  it("failoverPriority by cluster keeps traffic in the caller's cluster (seed 001)", () => {
    expect(levels(new Failover(mesh({ failoverPriority: ["topology.istio.io/cluster"] })))).toEqual({
      "c1-z1": 0, "c1-z2": 0, "c2-z1": 1, "c3-r2": 1, "c4-r3": 1,
    });
  });

  it("failoverPriority with several labels ranks by the first mismatch, literal values too", () => {
    expect(levels(new Failover(mesh({ failoverPriority: ["topology.kubernetes.io/region", "topology.istio.io/cluster=cluster2"] })))).toEqual({
      "c2-z1": 0, "c1-z1": 1, "c1-z2": 1, "c3-r2": 2, "c4-r3": 2,
    });
  });

  it("failoverPriority combined with failover composes the two", () => {
    expect(levels(new Failover(mesh({ failoverPriority: ["topology.istio.io/cluster"], failover: [{ from: "r1", to: "r3" }] })))).toEqual({
      "c1-z1": 0, "c1-z2": 1, "c2-z1": 2, "c4-r3": 3, "c3-r2": 4,
    });
  });

  it("distribute sets weights from the proxy's locality and drops unmatched clusters (50/50)", () => {
    const f = new Failover(mesh({ distribute: [{ from: "r1/z1/*", to: { "r1/z1/*": 50, "r1/z2/*": 50 } }] }));
    const r = f.route();
    expect(r.priorities.length).toBe(1);
    // z1 holds two clusters: they share its 50.
    expect(r.split).toEqual({ "c1-z1": 25, "c1-z2": 50, "c2-z1": 25, "c3-r2": 0, "c4-r3": 0 });
    expect(r.clusters.find((c) => c.name === "c3-r2")?.reason).toBe("excluded");
    expect(r.clusters.find((c) => c.name === "c1-z2")?.reason).toBe("distribute");
  });

  it("distribute applies only when its from matches the proxy", () => {
    const f = new Failover(mesh({ distribute: [{ from: "r9/*", to: { "r1/z1/*": 50, "r1/z2/*": 50 } }] }));
    expect(f.route().priorities.length).toBe(3);
  });

  it("learns its locality from Envoy's node when the policy gives none", () => {
    const policy = { ...mesh({ failoverPriority: ["topology.istio.io/cluster"] }), locality: undefined };
    const f = new Failover(policy, {
      properties: { xds: { node: { locality: { region: "r1", zone: "z2", sub_zone: "" }, metadata: { CLUSTER_ID: "cluster2" } } } },
    });
    expect(f.plan().locality).toEqual({ region: "r1", zone: "z2", subzone: "", cluster: "cluster2" });
    expect(levels(f)["c2-z1"]).toBe(0);
  });
});

describe("retries", () => {
  it("sets Envoy's retry headers from the route's policy", () => {
    const f = new Failover(edge({}, { retry: { retryOn: "5xx,reset,retriable-status-codes", numRetries: 2, perTryTimeout: "1500ms", retriableStatusCodes: [409, 429] } }));
    const h = f.request("bookinfo.example.com").requestHeaders;
    expect(h.get("x-envoy-retry-on")).toBe("5xx,reset,retriable-status-codes");
    expect(h.get("x-envoy-max-retries")).toBe("2");
    expect(h.get("x-envoy-upstream-rq-per-try-timeout-ms")).toBe("1500");
    expect(h.get("x-envoy-retriable-status-codes")).toBe("409,429");
  });

  it("names the aggregate cluster so a retry lands in the next cluster", () => {
    const f = new Failover(edge({ aggregates: [{ name: "bookinfo-1-then-2", clusters: ["cluster-1", "cluster-2"] }] }, { retry: { acrossClusters: true } }));
    const h = f.request("bookinfo.example.com").requestHeaders;
    expect(h.get("x-failover-upstream")).toBe("bookinfo-1-then-2");
    expect(h.get("x-failover-cluster")).toBe("cluster-1");
    expect(f.route().clusters[0].via).toBe("bookinfo-1-then-2");
  });

  it("attributes each attempt through an aggregate to the child it reached", () => {
    const f = new Failover(edge({
      aggregates: [{ name: "agg", clusters: ["cluster-1", "cluster-2"] }],
      health: { outlierDetection: { consecutive5xx: 1, consecutiveGatewayErrors: 1 } },
    }, { retry: { acrossClusters: true } }));
    // First attempt failed in cluster-1, the retry succeeded in cluster-2.
    f.exchange("bookinfo.example.com", 200, { attempts: 2 });
    f.advance(250);
    const plan = f.plan();
    expect(plan.clusters.find((c) => c.name === "cluster-1")).toMatchObject({ ejected: true, failures: 1 });
    expect(plan.clusters.find((c) => c.name === "cluster-2")).toMatchObject({ ejected: false, requests: 1, failures: 0 });
  });

  it("wraps around the aggregate's children once every child was tried, as Envoy does", () => {
    const f = new Failover(edge({
      aggregates: [{ name: "agg", clusters: ["cluster-1", "cluster-2"] }],
      health: { outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 0 } },
    }, { retry: { acrossClusters: true, numRetries: 2 } }));
    f.exchange("bookinfo.example.com", 200, { attempts: 3 }); // cluster-1 failed, cluster-2 failed, cluster-1 answered
    f.advance(250);
    const plan = f.plan();
    expect(plan.clusters.find((c) => c.name === "cluster-1")).toMatchObject({ requests: 2, failures: 1 });
    expect(plan.clusters.find((c) => c.name === "cluster-2")).toMatchObject({ requests: 1, failures: 1 });
  });

  it("credits the cluster Envoy finally used when a later filter (the hybrid sidecar) renamed it", () => {
    const f = new Failover(edge({ health: { outlierDetection: { consecutive5xx: 1 } } }));
    const s = f.request("bookinfo.example.com");
    expect(s.requestHeaders.get("x-failover-upstream")).toBe("cluster-1");
    s.requestHeaders.set("x-failover-upstream", "cluster-2"); // what ext_proc did after the Wasm filter
    s.sendResponseHeaders([[":status", "503"]], true);
    s.end({ response: { code: 503, flags: 0 } });
    const plan = f.plan();
    expect(plan.clusters.find((c) => c.name === "cluster-2")).toMatchObject({ ejected: true, failures: 1 });
    expect(plan.clusters.find((c) => c.name === "cluster-1")).toMatchObject({ ejected: false, failures: 0 });
  });

  it("stops retrying on a route whose retries exceed the budget", () => {
    const f = new Failover(edge({ health: { outlierDetection: { consecutive5xx: 0, consecutiveLocalOriginFailures: 0 } } },
      { retry: { numRetries: 3, budget: { percent: 20, minRetries: 3 } } }));
    for (let i = 0; i < 10; i++) f.exchange("bookinfo.example.com", 200, { attempts: 2 });
    const h = f.request("bookinfo.example.com").requestHeaders;
    expect(h.get("x-envoy-max-retries")).toBe("0");
    // Requests 1-3 retried within the floor of 3 retries; requests 4-10 and this one are refused.
    expect(f.vm.metrics.value("failover.route.bookinfo.retry_budget_exhausted_total")).toBe(8n);
    // The budget is a window: it recovers.
    f.advance(20_000);
    expect(f.request("bookinfo.example.com").requestHeaders.get("x-envoy-max-retries")).toBe("3");
  });
});

describe("session affinity", () => {
  const three = (affinity: object) => ({
    clusters: [{ name: "a", hosts: ["h"] }, { name: "b", hosts: ["h"] }, { name: "c", hosts: ["h"] }],
    routes: [{ name: "h", match: { authority: "h" }, destination: { mode: "weighted", weights: { a: 1, b: 1, c: 1 } }, affinity }],
  });

  it("keeps a header's value on one cluster and spreads different values", () => {
    const f = new Failover(three({ header: "x-user" }));
    const pick = (u: string) => f.request("h", [["x-user", u]]).requestHeaders.get("x-failover-upstream");
    const first = pick("alice");
    for (let i = 0; i < 20; i++) expect(pick("alice")).toBe(first);
    const seen = new Set(Array.from({ length: 60 }, (_, i) => pick(`user-${i}`)));
    expect(seen.size).toBe(3);
    expect(f.request("h", [["x-user", "alice"]]).requestHeaders.get("x-failover-reason")).toBe("affinity");
  });

  it("moves only the keys of a cluster that loses its share", () => {
    const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
    const before = new Failover(three({ header: "x-user" }));
    const policy = three({ header: "x-user" });
    (policy.routes[0].destination as { weights: Record<string, number> }).weights.c = 0;
    const after = new Failover(policy);
    let moved = 0;
    for (const u of users) {
      const b = before.request("h", [["x-user", u]]).requestHeaders.get("x-failover-upstream");
      const a = after.request("h", [["x-user", u]]).requestHeaders.get("x-failover-upstream");
      if (b !== "c") expect(a).toBe(b);
      else moved++;
      expect(a).not.toBe("c");
    }
    expect(moved).toBeGreaterThan(0);
  });

  it("issues an opaque cookie with its TTL and honours it afterwards", () => {
    const f = new Failover(three({ cookie: { name: "route", ttl: "30m", path: "/app" } }));
    const first = f.exchange("h", 200);
    const setCookie = first.responseHeaders.get("set-cookie")!;
    expect(setCookie).toMatch(/^route=[0-9a-f]{32}; Max-Age=1800; Path=\/app; HttpOnly; SameSite=Lax$/);
    const value = setCookie.split(";")[0];
    const cluster = first.requestHeaders.get("x-failover-upstream");
    for (let i = 0; i < 10; i++) {
      const s = f.exchange("h", 200, { extra: [["cookie", `theme=dark; ${value}`]] });
      expect(s.requestHeaders.get("x-failover-upstream")).toBe(cluster);
      expect(s.responseHeaders.has("set-cookie")).toBe(false);
    }
  });

  it("cannot be steered by a cookie naming a cluster", () => {
    const f = new Failover(three({ cookie: { name: "route" } }));
    const picks = new Set<string | undefined>();
    for (const name of ["a", "b", "c", "../a", "cluster=a"]) {
      picks.add(f.request("h", [["cookie", `route=${name}`]]).requestHeaders.get("x-failover-upstream"));
    }
    for (const p of picks) expect(["a", "b", "c"]).toContain(p);
  });

  it("keys on the source address without its port", () => {
    const f = new Failover(three({ sourceIp: true }));
    const pick = (addr: string) => f.request("h", [], "/", { source: { address: addr } }).requestHeaders.get("x-failover-upstream");
    const first = pick("10.1.2.3:40000");
    for (let port = 40001; port < 40020; port++) expect(pick(`10.1.2.3:${port}`)).toBe(first);
  });
});

describe("policy validation", () => {
  const reject = (policy: object): string[] => {
    try {
      new Failover(policy);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigurationError);
      return (e as ConfigurationError).moduleLog;
    }
    throw new Error("policy was accepted");
  };

  it("names the path of every problem", () => {
    expect(reject({
      clusters: [{ name: "a", hosts: ["h"], endpoints: 0 }, { name: "a" }],
      routes: [
        { name: "r", destination: { mode: "weighted", weights: { a: 1, zz: 2 } }, retry: { retryOn: "5xx,sometimes" } },
        { destination: { mode: "named", clusters: [] }, affinity: { header: "x", sourceIp: true } },
      ],
      health: { overprovisioningFactor: "high", outlierDetection: { interval: "soon", baseEjectionTime: "1m", maxEjectionTime: "30s" } },
      extra: 1,
    })).toEqual([
      "failover: policy: extra: unknown field (expected one of: routingHeader, explainResponse, seed, locality, clusters, aggregates, routes, health, assume)",
      "failover: policy: clusters[0].endpoints: must be between 1 and 1000000, got 0",
      "failover: policy: clusters[1].name: duplicate cluster \"a\"",
      "failover: policy: health.overprovisioningFactor: expected a number, got string",
      "failover: policy: health.outlierDetection.interval: expected a duration such as \"500ms\", \"30s\" or \"5m\"",
      "failover: policy: health.outlierDetection.maxEjectionTime: must not be shorter than baseEjectionTime",
      "failover: policy: routes[0].destination.weights.zz: unknown cluster \"zz\"",
      "failover: policy: routes[0].retry.retryOn: unknown retry condition \"sometimes\" (Envoy knows: 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure)",
      "failover: policy: routes[1].destination.clusters: mode named needs at least one cluster",
      "failover: policy: routes[1].affinity: choose one of header, cookie or sourceIp",
    ]);
  });

  it("rejects what Istio rejects in priority rules", () => {
    const logs = reject({
      clusters: [{ name: "a", hosts: ["h"] }],
      routes: [{ match: { authority: "h" }, destination: { mode: "auto" }, priority: {
        failoverPriority: ["topology.kubernetes.io/zone"], failover: [{ from: "r1", to: "r1" }],
        distribute: [{ from: "r1/*/x", to: { "r1/z1": 60, "r2": 30 } }],
      } }],
    });
    expect(logs).toEqual([
      "failover: policy: routes[0].priority.failover[0]: from and to must differ",
      "failover: policy: routes[0].priority.failoverPriority[0]: with failover set, failoverPriority must not name region, zone or subzone (Istio's rule)",
      "failover: policy: routes[0].priority.distribute: distribute and failover cannot be used together",
      "failover: policy: routes[0].priority.distribute[0].from: a wildcard may only end the pattern: \"r1/*/x\"",
      "failover: policy: routes[0].priority.distribute[0].to: weights must sum to 100, got 90",
    ]);
  });

  it("rejects malformed JSON with its position, an aggregate of unknown clusters, and retries across clusters without one", () => {
    expect(reject({ clusters: [{ name: "a" }], routes: [], aggregates: [{ name: "x", clusters: ["a", "b"] }] }))
      .toEqual(["failover: policy: aggregates[0].clusters[1]: unknown cluster \"b\""]);
    expect(reject({ clusters: [{ name: "a", hosts: ["h"] }], routes: [{ match: { authority: "h" }, destination: { mode: "auto" }, retry: { acrossClusters: true } }] }))
      .toEqual(["failover: policy: routes[0].retry.acrossClusters: needs aggregates: Envoy moves a retry to another cluster only through an aggregate cluster"]);
  });

  it("accepts a minimal policy and fills in the defaults", () => {
    const f = new Failover({ clusters: [{ name: "only", hosts: ["h"] }], routes: [{ match: { authority: "h" }, destination: { mode: "auto" } }] });
    expect(f.vm.tickPeriodMs).toBe(250);
    expect(f.request("h").requestHeaders.get("x-failover-upstream")).toBe("only");
  });
});

describe("metrics", () => {
  it("counts requests, failures by kind and failovers per cluster, with a score gauge", () => {
    const f = new Failover(edge({ health: { outlierDetection: { consecutive5xx: 0, consecutiveLocalOriginFailures: 0 } } }));
    f.exchange("bookinfo.example.com", 200);
    f.exchange("bookinfo.example.com", 500);
    f.exchange("bookinfo.example.com", 503);
    f.exchange("bookinfo.example.com", 503, { flags: 0x20 });
    const m = (name: string) => f.vm.metrics.value(`failover.cluster.cluster-1.${name}`);
    expect(m("requests_total")).toBe(4n);
    // Every 5xx (the 503 too, like Envoy's upstream_rq_5xx); the gateway errors are a subset.
    expect(m("failures_5xx_total")).toBe(2n);
    expect(m("failures_gateway_total")).toBe(1n);
    expect(m("failures_local_origin_total")).toBe(1n);
    expect(f.vm.metrics.value("failover.decisions_total")).toBe(4n);
    f.advance(250);
    // 1 success in 4 with a prior of 5: score 66.67, health 93 -> 93% stays, 7% spills.
    expect(m("score")).toBe(67n);
    expect(f.vm.metrics.value("failover.route.bookinfo.cluster.cluster-1.share_percent")).toBe(93n);
    expect(f.vm.metrics.value("failover.route.bookinfo.cluster.cluster-2.share_percent")).toBe(7n);
  });

  it("counts 500-599 in failures_5xx like Envoy's upstream_rq_5xx, and 502-504 also as gateway errors", () => {
    const f = new Failover(edge({ health: { outlierDetection: { consecutive5xx: 0, consecutiveLocalOriginFailures: 0 } } }));
    for (const code of [500, 501, 502, 503, 504, 505, 599, 404]) f.exchange("bookinfo.example.com", code);
    const m = (name: string) => f.vm.metrics.value(`failover.cluster.cluster-1.${name}`);
    expect(m("failures_5xx_total")).toBe(7n);
    expect(m("failures_gateway_total")).toBe(3n);
    expect(m("failures_local_origin_total")).toBe(0n);
  });
});
