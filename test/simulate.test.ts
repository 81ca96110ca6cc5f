// `failover simulate` on the real module: each shipped scenario's failure plays out as its seed
// document describes (who takes the traffic, how fast, what clients see), and runs are
// reproducible from their seed.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadScenario } from "../extproc/tools/scenario.js";
import { SimulationReport, formatSimulation, simulate, simulateJson } from "../extproc/tools/simulate/index.js";
import { runSimulation } from "../extproc/tools/simulate/run.js";
import type { TimelineRow } from "../extproc/tools/simulate/report.js";
import { root } from "./support/wasm.js";

async function run(file: string, name: string, seed = 1): Promise<SimulationReport> {
  const c = loadScenario(join(root, "scenarios", file)).simulate.find((x) => x.name === name);
  if (!c) throw new Error(`no simulate case "${name}" in ${file}`);
  return simulate(c, { seed });
}

/** Timeline rows from `from` (inclusive) to `to` (exclusive) seconds. */
const rows = (r: SimulationReport, from: number, to: number) => r.timeline.filter((w) => w.at >= from && w.at < to);
/** A cluster's share over those rows, weighted by requests. */
function share(ws: TimelineRow[], cluster: string): number {
  const total = ws.reduce((n, w) => n + w.requests, 0);
  return ws.reduce((n, w) => n + (w.share[cluster] * w.requests) / 100, 0) / total * 100;
}
const sum = (ws: TimelineRow[], key: "errors" | "probes" | "retries") => ws.reduce((n, w) => n + w[key], 0);

describe("seed 001: the waypoint fails over to cluster2 when the local deployment is scaled to 0", () => {
  it("with retries across clusters: off cluster1 within 1 s, no client error, straight back after recovery", async () => {
    const r = await run("001-waypoint-cluster.yaml", "local deployment scaled to 0, retries across clusters");
    const [e] = r.events;
    expect(e).toMatchObject({ cluster: "helloworld-cluster1", shareBefore: 100, flapping: false });
    expect(e.failover).toBeLessThanOrEqual(1);
    expect(r.totals.errors).toBeLessThanOrEqual(1);
    expect(share(rows(r, 11, 40), "helloworld-cluster2")).toBe(100);
    expect(e.failback).not.toBeNull();
    expect(share(rows(r, 45, 150), "helloworld-cluster1")).toBe(100);
    // Envoy's aggregate, not the module, moved most of these requests: the module chose cluster1.
    expect(r.totals.rerouted).toBeGreaterThan(0.8 * rows(r, 10, 40).reduce((n, w) => n + w.requests, 0));
  });

  it("retrying in the cluster: one error ejects cluster1, no probes, back when the ejection ends", async () => {
    const r = await run("001-waypoint-cluster.yaml", "local deployment scaled to 0");
    const [e] = r.events;
    expect(e.failover).toBeLessThanOrEqual(1);
    const outage = rows(r, 10, 40);
    expect(share(outage, "helloworld-cluster2")).toBeGreaterThan(97);
    expect(r.totals.errors).toBe(1); // the one that ejects it
    expect(sum(rows(r, 0, 150), "probes")).toBe(0);
    expect(r.moduleLog.filter((l) => l.message.includes("ejected cluster helloworld-cluster1"))).toHaveLength(1);
    // Ejected for 1m from 10 s; back at 70 s, within 5 points of 100% after the slow start (30 s).
    expect(share(rows(r, 41, 69), "helloworld-cluster1")).toBe(0);
    expect(e.failback).toBeGreaterThan(30);
    expect(e.failback).toBeLessThan(60);
    expect(e.flapping).toBe(false);
    expect(share(rows(r, 100, 150), "helloworld-cluster1")).toBe(100);
  });
});

describe("seed 000: the edge gateway, placed in region-2, when cluster-2 breaks", () => {
  it("gateway removed: refused connections are retried on cluster-1 and cluster-2 is ejected within a second", async () => {
    const r = await run("000-edge-gateway.yaml", "auto, cluster-2 gateway resource removed");
    const [e] = r.events;
    expect(e.shareBefore).toBe(100);
    expect(e.failover).toBeLessThan(1);
    expect(share(rows(r, 12, 40), "cluster-1")).toBeGreaterThan(97);
    // Every refused connection is retried on cluster-1 (the aggregates' retry budget allows 16
    // at once): no client sees an error, before the ejection or after it.
    expect(e.errors).toBe(0);
    expect(r.totals.errors).toBe(0);
    expect(e.failback).toBeLessThan(40);
    expect(e.flapping).toBe(false);
    expect(share(rows(r, 70, 120), "cluster-2")).toBe(100);
  });

  it("ingress gateway scaled to 0: the aggregate skips the empty cluster-2, no client error", async () => {
    const r = await run("000-edge-gateway.yaml", "auto, cluster-2 ingress gateway scaled to 0");
    expect(r.totals.errors).toBe(0);
    expect(r.events[0].failover).toBe(0);
    expect(share(rows(r, 10, 40), "cluster-1")).toBe(100);
    expect(share(rows(r, 40, 120), "cluster-2")).toBe(100);
  });

  it("upstream service scaled to 0: 503s are retried on cluster-1, and named lists behave like auto", async () => {
    const auto = await run("000-edge-gateway.yaml", "auto, cluster-2 upstream service scaled to 0");
    const [e] = auto.events;
    expect(e.failover).toBeLessThan(1);
    expect(auto.totals.errors).toBe(0); // every 503 is retried on cluster-1
    // Probes keep testing cluster-2 while it is ejected; their 503s are retried on cluster-1.
    expect(sum(rows(auto, 11, 40), "probes")).toBeGreaterThan(0);
    expect(sum(rows(auto, 11, 40), "retries")).toBeGreaterThanOrEqual(sum(rows(auto, 11, 40), "probes"));
    expect(e.flapping).toBe(false);
    const named = await run("000-edge-gateway.yaml", "named, cluster-2 upstream service scaled to 0");
    expect(named.timeline).toEqual(auto.timeline);
  });

  it("weighted: no failover; cluster-2 keeps half the requests and they fail until it recovers", async () => {
    const r = await run("000-edge-gateway.yaml", "weighted 50/50, cluster-2 ingress gateway scaled to 0");
    const outage = rows(r, 10, 40);
    const requests = outage.reduce((n, w) => n + w.requests, 0);
    expect(r.events[0].failover).toBeNull();
    expect(share(outage, "cluster-2")).toBeGreaterThan(45);
    expect(share(outage, "cluster-2")).toBeLessThan(55);
    expect(sum(outage, "errors")).toBeCloseTo((share(outage, "cluster-2") / 100) * requests, 0);
    expect(sum(outage, "retries")).toBe(0);
    expect(sum(rows(r, 40, 60), "errors")).toBe(0);
  });
});

describe("seed 003: the ingress gateway, with Envoy ejecting zone 1's failing endpoints (the seed's DestinationRule)", () => {
  it("10/14 healthy: zone 1 keeps its traffic and errors stop within 2 s; none healthy: out within 1 s; back over the slow start", async () => {
    const r = await run("003-ingress-zones.yaml", "zone 1 endpoints fail, health from live traffic");
    const [ten, five, none] = r.events;
    // The expected shares are the module's own plan for the healthy endpoints.
    expect(ten).toMatchObject({ healthy: { healthy: 10, total: 14 }, expectedShare: 100 });
    expect(five).toMatchObject({ healthy: { healthy: 5, total: 14 }, expectedShare: 50 });
    expect(none).toMatchObject({ healthy: { healthy: 0, total: 14 }, expectedShare: 0 });
    // 10 of 14: Envoy ejects the 4 failing endpoints; the zone keeps >= 95% and errors stop within 2 s.
    expect(share(rows(r, 10, 30), "user-zone1")).toBeGreaterThanOrEqual(95);
    expect(ten.settled).not.toBeNull();
    expect(ten.lastError).not.toBeNull();
    expect(ten.lastError!).toBeLessThanOrEqual(2);
    expect(sum(rows(r, 12, 30), "errors")).toBe(0);
    expect(ten.failover).toBeNull(); // the rule gives it traffic: no "failover" to measure
    // None healthy: Envoy answers no healthy upstream, the filter takes the zone out within 1 s.
    expect(none.failover).not.toBeNull();
    expect(none.failover!).toBeLessThan(1);
    expect(none.settled!).toBeLessThan(1);
    expect(share(rows(r, 51, 70), "user-zone1")).toBeLessThan(5);
    // Back after recovery: gradually (slow start), without flapping, then all of it.
    const ramp = share(rows(r, 82, 96), "user-zone1");
    expect(ramp).toBeGreaterThan(10);
    expect(ramp).toBeLessThan(80);
    expect(none.flapping).toBe(false);
    expect(share(rows(r, 110, 150), "user-zone1")).toBe(100);
  });

  it("reports each attempt's endpoint as upstream.address (ip:port); Envoy's ejected endpoints stop appearing", async () => {
    const c = loadScenario(join(root, "scenarios", "003-ingress-zones.yaml")).simulate[0];
    const { records } = await runSimulation(c, { seed: 1 });
    const zone1 = (from: number, to: number) => records.filter((r) => r.first === "user-zone1" && r.arrivalMs >= from && r.arrivalMs < to);
    expect(zone1(0, 10_000).every((r) => /^10\.128\.0\.\d{1,2}:8080$/.test(r.address ?? ""))).toBe(true);
    expect(new Set(zone1(0, 10_000).map((r) => r.address)).size).toBe(14);
    // 4 of 14 fail from 10 s: each answers 503 three times (consecutiveGatewayFailure 3), then is ejected.
    const failed = zone1(10_000, 30_000).filter((r) => r.code === 503);
    const perEndpoint = new Map<string, number>();
    for (const r of failed) perEndpoint.set(r.address!, (perEndpoint.get(r.address!) ?? 0) + 1);
    expect([...perEndpoint.values()]).toEqual([3, 3, 3, 3]);
    const later = new Set(zone1(12_000, 30_000).map((r) => r.address));
    expect(later.size).toBe(10);
    for (const a of perEndpoint.keys()) expect(later.has(a)).toBe(false);
    // With every endpoint failing, the filter's endpoint table empties the zone as Envoy ejects
    // them: it is out before Envoy runs out of hosts, so no request meets "no healthy upstream"
    // (before the endpoint table, 40-50 a second did: issue 15).
    const outage = zone1(50_000, 70_000);
    expect(outage.length).toBeGreaterThan(0);
    expect(outage.every((r) => r.address !== undefined)).toBe(true);
  });

  it("5/14 healthy: the filter counts Envoy's 9 ejected endpoints and splits 50/50 within 3 s (140 x 5/14)", async () => {
    const r = await run("003-ingress-zones.yaml", "zone 1 endpoints fail, health from live traffic");
    const five = r.events[1];
    // Every decision of the module from 0.36 s on gives zone 1 a split within 5 points of 50.
    expect(five.splitSettled).not.toBeNull();
    expect(five.splitSettled!).toBeLessThanOrEqual(3);
    // The observed split samples it: over the 18 s after that, within 5 points of 50/50
    // (a window of 200 requests varies by 3.5 points, so the report's observed "settled" may
    // come later at 100 requests a second).
    const after = share(rows(r, 32, 50), "user-zone1");
    expect(Math.abs(after - 50)).toBeLessThanOrEqual(5);
    expect(five.lastError!).toBeLessThanOrEqual(2);
    expect(sum(rows(r, 33, 50), "errors")).toBe(0);
    // Before the endpoint table the split stayed near 100/0: the success rate saw the zone
    // healthy again once Envoy had ejected the failing endpoints.
  });

  it("the plan says where each cluster's health comes from: Envoy's endpoints here", async () => {
    const c = loadScenario(join(root, "scenarios", "003-ingress-zones.yaml")).simulate[0];
    const { plans } = await runSimulation(c, { seed: 1, planAtMs: [35_000] });
    const zone1 = plans[0].clusters.find((x) => x.name === "user-zone1")!;
    expect(zone1).toMatchObject({ healthFrom: "endpoints", endpoints: 14, ejectedEndpoints: 9 });
  });
});

describe("seed 004: same zone, then the region's other zone, then the other region", () => {
  it("one failed call moves mockb to ap-northeast-1b; a broken region moves it to cn-hangzhou", async () => {
    const r = await run("004-asm-zones.yaml", "mockb-ap-northeast-1a broken, then the whole region");
    const [zone, region] = r.events;
    expect(zone).toMatchObject({ cluster: "mockb-ap-northeast-1a", shareBefore: 100, failover: 0 });
    // As in the seed, the first call that meets the broken zone fails (retries stay in the zone).
    expect(rows(r, 10, 11)[0].errors).toBe(1);
    expect(share(rows(r, 11, 20), "mockb-ap-northeast-1b")).toBeGreaterThan(95);
    expect(region).toMatchObject({ cluster: "mockb-ap-northeast-1b", failover: 0 });
    const crossed = rows(r, 21, 40);
    const h = share(crossed, "mockb-cn-hangzhou-h");
    const k = share(crossed, "mockb-cn-hangzhou-k");
    expect(h + k).toBeGreaterThan(95);
    expect(Math.abs(h - k)).toBeLessThan(15);
    // No probes (retries stay in the zone): the only errors are the calls in flight when a zone broke.
    expect(sum(rows(r, 0, 400), "probes")).toBe(0);
    expect(r.totals.errors).toBeLessThanOrEqual(10);
    // Both zones stay out for the 5-minute ejection, then return, the local zone fully.
    expect(share(rows(r, 100, 300), "mockb-ap-northeast-1a")).toBe(0);
    expect(zone.failback).toBeGreaterThan(220); // repaired at 80 s, ejected until 310 s, then the slow start
    // ap-northeast-1b never regains its 100%: ap-northeast-1a, preferred, is back by then.
    expect(region.failback).toBeNull();
    expect(share(rows(r, 360, 400), "mockb-ap-northeast-1a")).toBe(100);
  });
});

describe("reproducibility and output", () => {
  it("the same seed gives the same run, another seed another one", async () => {
    const name = "weighted 50/50, cluster-2 ingress gateway scaled to 0";
    const a = await run("000-edge-gateway.yaml", name, 7);
    const b = await run("000-edge-gateway.yaml", name, 7);
    expect(b).toEqual(a);
    const c = await run("000-edge-gateway.yaml", name, 8);
    expect(c.timeline).not.toEqual(a.timeline);
    expect(c.seed).toBe(8);
  });

  it("the JSON is the report, and the text shows the timeline, the events and the totals", async () => {
    const r = await run("001-waypoint-cluster.yaml", "local deployment scaled to 0");
    const json = JSON.parse(JSON.stringify(simulateJson([r])));
    expect(json.timeline).toHaveLength(150);
    expect(json.events[0]).toMatchObject({ cluster: "helloworld-cluster1", at: 10 });
    expect(simulateJson([r, r])).toEqual({ cases: [r, r] });
    const text = formatSimulation(r);
    expect(text).toMatch(/^ {2}0-9s +1000 +100\.00% +0\.00% /m);
    expect(text).toContain("at 10s: helloworld-cluster1 down (no-healthy-upstream) (helloworld-v1 scaled to 0)");
    expect(text).toMatch(/failover: 0\.00 s/);
    expect(text).toMatch(/^total: 15000 requests, \d+ client-visible errors/m);
    expect(text).toContain("failover: ejected cluster helloworld-cluster1");
  });
});
