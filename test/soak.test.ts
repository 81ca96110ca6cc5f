// Soak: hours of simulated traffic through `failover simulate` (the module in the host, Envoy's
// router and retries around it) with random failures from a fixed seed. All along:
//   - the health state in shared data stays the same size (one fixed record per cluster and a plan
//     whose size does not grow with time), and the module's memory stays small;
//   - the split the module publishes is what `failover plan` computes for the same health
//     (clusters assumed at the scores and ejections the live plan shows), and the requests it
//     routes follow that split.
// Default: 2 simulated hours at 20 rps. FAILOVER_LONG_TESTS=1: 12 hours at 50 rps.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { EPOCH_NS } from "../extproc/module/failover-module.js";
import type { PluginVm } from "../extproc/host/index.js";
import type { PlanCase } from "../extproc/tools/scenario.js";
import { loadScenario } from "../extproc/tools/scenario.js";
import { runPlan } from "../extproc/tools/plan.js";
import { runSimulation } from "../extproc/tools/simulate/run.js";
import { Random } from "../extproc/tools/simulate/random.js";
import { LONG } from "./support/fuzz.js";

// The simulator starts its VM through failover-module.ts: watch every tick of the one it starts.
const hooks = vi.hoisted(() => ({ onStart: undefined as ((vm: PluginVm) => void) | undefined }));
vi.mock("../extproc/module/failover-module.js", async (importOriginal) => {
  const m = await importOriginal<typeof import("../extproc/module/failover-module.js")>();
  return {
    ...m,
    startFailover: (...args: Parameters<typeof m.startFailover>) => {
      const vm = m.startFailover(...args);
      hooks.onStart?.(vm);
      return vm;
    },
  };
});

const HOURS = LONG ? 12 : 2;
const RATE = LONG ? 50 : 20;
const SEED = 7;

const policy = {
  locality: { region: "r1", zone: "a" },
  clusters: [
    { name: "near", region: "r1", zone: "a", hosts: ["svc.example.com", "api.example.com", "w.example.com"], endpoints: 4 },
    { name: "peer", region: "r1", zone: "b", hosts: ["svc.example.com", "api.example.com", "w.example.com"], endpoints: 4 },
    { name: "far", region: "r2", zone: "c", hosts: ["svc.example.com", "api.example.com", "w.example.com"], endpoints: 6 },
  ],
  aggregates: [
    { name: "near-first", clusters: ["near", "peer", "far"] },
    { name: "peer-first", clusters: ["peer", "near", "far"] },
    { name: "far-first", clusters: ["far", "near", "peer"] },
  ],
  routes: [
    // Failover by locality, retries within the cluster: no probes.
    { name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "auto" }, retry: { numRetries: 1 } },
    // Retries across clusters through the aggregates: ejected clusters keep a probe share.
    { name: "api", match: { authority: "api.example.com" }, destination: { mode: "auto" }, retry: { numRetries: 2, acrossClusters: true } },
    // Strict weights, whatever the health.
    { name: "w", match: { authority: "w.example.com" }, destination: { mode: "weighted", weights: { near: 2, peer: 1, far: 1 } } },
  ],
  health: {
    window: "10s", minRequests: 5, slowStart: "20s", probe: { percent: 2, successes: 3 },
    outlierDetection: { consecutive5xx: 5, consecutiveLocalOriginFailures: 5, baseEjectionTime: "15s", maxEjectionTime: "2m", maxEjectionPercent: 67 },
  },
};

/** Random failures over the hours, from a fixed seed; everything recovers before the end. */
function events(hours: number, seed: number): object[] {
  const random = new Random(seed);
  const out: object[] = [];
  const clusters = policy.clusters.map((c) => c.name);
  const end = hours * 3600;
  for (let at = 60; at < end - 600; at += 60 + random.below(540)) {
    const cluster = clusters[random.below(clusters.length)];
    const kind = random.below(5);
    if (kind === 0) out.push({ at: `${at}s`, cluster, down: ["no-healthy-upstream", "connect-refused", "http-503"][random.below(3)] });
    else if (kind === 1) {
      // A share of the cluster's endpoints, as a whole number of them (the simulator models endpoints).
      const n = policy.clusters.find((c) => c.name === cluster)!.endpoints;
      out.push({ at: `${at}s`, cluster, errorRate: `${random.below(n + 1)}/${n}` });
    }
    else if (kind === 2) out.push({ at: `${at}s`, cluster, latency: `${5 + random.below(400)}ms` });
    else out.push({ at: `${at}s`, cluster, recover: true });
  }
  for (const cluster of clusters) out.push({ at: `${end - 600}s`, cluster, recover: true });
  return out;
}

interface PublishedRoute { name: string; split: Record<string, number>; clusters: { name: string; reason: string; score: number; ejected: boolean }[] }
interface Published { generation: number; timeMs: number; routes: PublishedRoute[]; clusters: { name: string; score: number; ejected: boolean }[] }

describe(`soak: ${HOURS} simulated hours at ${RATE} rps with random failures (seed ${SEED})`, () => {
  it("keeps its health state bounded and its decisions equal to what `plan` computes for the same health", async () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-soak-"));
    const file = join(dir, "soak.json");
    writeFileSync(file, JSON.stringify({
      policy,
      requests: [{ authority: "svc.example.com" }, { authority: "api.example.com" }, { authority: "w.example.com" }],
      upstreams: { near: { latency: "5ms" }, peer: { latency: "8ms" }, far: { latency: "40ms" } },
      simulate: [{ name: "soak", traffic: { rate: RATE, duration: `${HOURS}h`, clients: 50 }, events: events(HOURS, SEED) }],
    }));
    const c = loadScenario(file).simulate[0];

    // Watch every tick: sizes, memory, and the plan as published.
    let vm: PluginVm | undefined;
    const ticks: { atMs: number; plan: Published }[] = [];
    const samples: { atMs: number; bytes: number; keys: number; pages: number }[] = [];
    const t0 = Number(EPOCH_NS / 1_000_000n); // simulated time 0
    hooks.onStart = (started) => {
      vm = started;
      const tick = started.tick.bind(started);
      started.tick = () => {
        tick();
        const e = started.shared.get(started.vmId, "failover.plan")!;
        const plan = JSON.parse(new TextDecoder().decode(e.value)) as Published;
        const atMs = plan.timeMs - t0;
        ticks.push({ atMs, plan });
        if (ticks.length % 240 === 0) samples.push({ atMs, bytes: started.shared.bytes(started.vmId), keys: started.shared.keys(started.vmId).length, pages: started.memoryPages });
      };
    };
    const started = performance.now();
    const run = await runSimulation(c, { seed: SEED });
    hooks.onStart = undefined;
    const wallMs = performance.now() - started;
    expect(vm?.failure).toBeUndefined();
    expect(run.records.length).toBe(HOURS * 3600 * RATE);

    // 1. Bounded state: the same keys all along, bytes within a few digits of each other, and the
    // module's memory under 1 MiB (it may step up once for a burst of garbage between two
    // collections; a leak of even a byte per request would pass 1 MiB long before the end).
    expect(new Set(samples.map((s) => s.keys))).toEqual(new Set([4])); // three health records and the plan
    const bytes = samples.map((s) => s.bytes);
    expect(Math.max(...bytes) - Math.min(...bytes)).toBeLessThan(200);
    const pages = samples.map((s) => s.pages);
    expect(Math.max(...pages)).toBeLessThanOrEqual(16);

    // 2. The published split is what `failover plan` computes for the health it shows.
    const planCase = (assume: Record<string, object>): PlanCase => ({
      scenario: file, name: "snapshot", description: "", config: { ...policy, assume }, routingHeader: "x-failover-upstream",
      clusters: c.clusters, aggregates: c.aggregates, requests: [], where: () => "",
    });
    const snapshots = ticks.filter((_, i) => i % 1200 === 600); // every 5 minutes
    let probesSeen = 0;
    let ejectionsSeen = 0;
    for (const { plan } of snapshots) {
      const assume = Object.fromEntries(plan.clusters.map((x) => [x.name, x.ejected ? { ejected: true } : { score: x.score }]));
      ejectionsSeen += plan.clusters.filter((x) => x.ejected).length;
      const computed = await runPlan(planCase(assume));
      for (const live of plan.routes) {
        const want = computed.routes.find((r) => r.name === live.name)!.split;
        const probes = live.clusters.filter((x) => x.reason === "probe").map((x) => x.name);
        if (probes.length === 0) {
          expect(live.split, `route ${live.name} at ${plan.timeMs - t0} ms`).toEqual(want);
          continue;
        }
        // Probes are live-only (an assumed ejection gets none). Give `plan`'s split the probes the
        // way docs/interface.md describes them: each probed cluster its percent (at most 50 in
        // all), the others the rest in proportion to their shares.
        probesSeen++;
        const pct = policy.health.probe.percent;
        const probeTotal = Math.min(50, pct * probes.length);
        const others = Object.entries(want).filter(([n]) => !probes.includes(n));
        const rest = others.reduce((n, [, v]) => n + v, 0);
        const expected: Record<string, number> = {};
        for (const n of probes) expected[n] = (pct * probeTotal) / (pct * probes.length);
        for (const [n, v] of others) expected[n] = (v * (100 - probeTotal)) / rest;
        for (const [n, v] of Object.entries(live.split)) expect(Math.abs(v - expected[n]), `route ${live.name} cluster ${n}`).toBeLessThanOrEqual(0.05);
      }
    }
    expect(ejectionsSeen).toBeGreaterThan(0);

    // 3. The requests follow the published split: over the tick intervals in which it did not
    // change (no refresh between two ticks but the tick's own), grouped by split.
    const byRoute = ["svc", "api", "w"];
    const groups = new Map<string, { expected: Record<string, number>; counts: Record<string, number>; n: number }>();
    let r = 0;
    for (let i = 0; i + 1 < ticks.length; i++) {
      const { atMs, plan } = ticks[i];
      const next = ticks[i + 1];
      const stable = next.plan.generation === plan.generation + 1;
      while (r < run.records.length && run.records[r].arrivalMs < atMs) r++;
      for (; r < run.records.length && run.records[r].arrivalMs < next.atMs; r++) {
        // A request arriving at the very moment of a tick may have been decided before it.
        if (!stable || run.records[r].arrivalMs === atMs) continue;
        const route = plan.routes.find((x) => x.name === byRoute[r % 3])!;
        const key = `${route.name} ${JSON.stringify(route.split)}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { expected: route.split, counts: {}, n: 0 }));
        const chosen = run.records[r].chosen ?? "none";
        g.counts[chosen] = (g.counts[chosen] ?? 0) + 1;
        g.n++;
      }
    }
    let checkedGroups = 0;
    for (const g of groups.values()) {
      if (g.n < 2000) continue;
      checkedGroups++;
      for (const [name, pct] of Object.entries(g.expected)) {
        const p = pct / 100;
        const observed = (g.counts[name] ?? 0) / g.n;
        expect(Math.abs(observed - p)).toBeLessThanOrEqual(5 * Math.sqrt((p * (1 - p)) / g.n) + 0.002);
      }
    }
    expect(checkedGroups).toBeGreaterThan(0);
    if (process.env.FAILOVER_FAULT_REPORT === "1") {
      console.log(`soak report: ${JSON.stringify({
        simulatedHours: HOURS, requests: run.records.length, ticks: ticks.length, wallMs: Math.round(wallMs),
        sharedBytes: { min: Math.min(...bytes), max: Math.max(...bytes) }, memoryPages: { first: pages[0], max: Math.max(...pages), end: pages.at(-1) },
        snapshotsCompared: snapshots.length, snapshotsWithProbes: probesSeen, ejectionsSeen, splitGroupsChecked: checkedGroups,
        clientErrors: run.records.filter((x) => x.code >= 500 || x.code === 0).length,
      })}`);
    }
  }, LONG ? 3_600_000 : 300_000);
});
