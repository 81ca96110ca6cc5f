// `failover plan` on the real module: every shipped scenario's plan cases give the split its seed
// document describes, and a policy the module rejects comes back as the module's own lines,
// placed in the file that wrote them.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PolicyRejected } from "../extproc/module/failover-module.js";
import { PlanResult, formatPlan, planJson, runPlan } from "../extproc/tools/plan.js";
import { loadScenario } from "../extproc/tools/scenario.js";
import { root } from "./support/wasm.js";

const scenario = (name: string) => loadScenario(join(root, "scenarios", name));

/** The plan of one case of a shipped scenario. */
async function plan(file: string, name: string): Promise<PlanResult> {
  const c = scenario(file).plan.find((x) => x.name === name);
  if (!c) throw new Error(`no plan case "${name}" in ${file}`);
  return runPlan(c);
}

describe("seed 003: health-proportional failover at the ingress gateway", () => {
  const file = "003-ingress-zones.yaml";

  it("10 of 14 healthy (71.4%) keeps every request in zone 1", async () => {
    const r = await plan(file, "10 of 14 healthy in zone 1");
    expect(r.split).toEqual({ "user-zone1": 100, "user-zone2": 0 });
    expect(r.routes[0].priorities.map((p) => [p.health, p.load])).toEqual([[100, 100], [100, 0]]);
  });

  it("5 of 14 healthy splits 50/50 (140 x 5/14 = 50)", async () => {
    const r = await plan(file, "5 of 14 healthy in zone 1");
    expect(r.split).toEqual({ "user-zone1": 50, "user-zone2": 50 });
    expect(r.routes[0].priorities.map((p) => [p.health, p.load])).toEqual([[50, 50], [100, 50]]);
    expect(r.routes[0].clusters.find((c) => c.name === "user-zone2")?.reason).toBe("spill");
  });

  it("0 of 14 healthy moves everything to zone 2", async () => {
    const r = await plan(file, "0 of 14 healthy in zone 1");
    expect(r.split).toEqual({ "user-zone1": 0, "user-zone2": 100 });
    expect(r.requests[0].headers["x-failover-upstream"]).toBe("user-zone2");
    expect(r.requests[0].headers["x-failover-reason"]).toBe("failover");
  });

  it("distribute sends half of zone 1's traffic to each zone", async () => {
    const r = await plan(file, "distribute 50/50");
    expect(r.split).toEqual({ "user-zone1": 50, "user-zone2": 50 });
    expect(r.routes[0].clusters.map((c) => c.reason)).toEqual(["distribute", "distribute"]);
  });
});

describe("seed 000: the edge gateway's cluster lists", () => {
  const file = "000-edge-gateway.yaml";

  it("an edge in region-1 does not notice cluster-2 failing, and fails over when cluster-1 does", async () => {
    expect((await plan(file, "edge in region-1, cluster-2 down")).split).toEqual({ "cluster-1": 100, "cluster-2": 0 });
    const down = await plan(file, "edge in region-1, cluster-1 down");
    expect(down.split).toEqual({ "cluster-1": 0, "cluster-2": 100 });
    expect(down.locality.region).toBe("region-1");
  });

  it("an edge placed in region-2 prefers cluster-2 and names the aggregate that retries on cluster-1", async () => {
    const r = await plan(file, "edge in region-2, all healthy");
    expect(r.locality.region).toBe("region-2");
    expect(r.split).toEqual({ "cluster-1": 0, "cluster-2": 100 });
    expect(r.requests[0].headers).toMatchObject({
      "x-failover-upstream": "cluster-2-then-1", "x-failover-cluster": "cluster-2",
      "x-envoy-retry-on": "5xx,connect-failure", "x-envoy-max-retries": "1",
    });
  });

  it("weighted keeps strict weights, even with a cluster down", async () => {
    const r = await plan(file, "weighted 50/50, cluster-2 down");
    expect(r.split).toEqual({ "cluster-1": 50, "cluster-2": 50 });
    expect(r.routes[0].mode).toBe("weighted");
    expect(r.clusters.find((c) => c.name === "cluster-2")).toMatchObject({ ejected: true, assumed: true });
  });
});

describe("seed 001: failoverPriority by cluster at the waypoint", () => {
  const file = "001-waypoint-cluster.yaml";

  it("stays in cluster1 while healthy and moves to cluster2 when its deployment has no endpoint", async () => {
    const healthy = await plan(file, "both clusters healthy");
    expect(healthy.split).toEqual({ "helloworld-cluster1": 100, "helloworld-cluster2": 0 });
    expect(healthy.routes[0].priorities.map((p) => p.clusters)).toEqual([["helloworld-cluster1"], ["helloworld-cluster2"]]);
    expect((await plan(file, "local deployment scaled to 0")).split).toEqual({ "helloworld-cluster1": 0, "helloworld-cluster2": 100 });
  });
});

describe("seed 004: same zone, then the region's other zone, then the other region", () => {
  const file = "004-asm-zones.yaml";

  it("orders the zones in three priorities and moves down them as zones are ejected", async () => {
    const healthy = await plan(file, "all zones healthy");
    expect(healthy.routes[0].priorities.map((p) => p.clusters)).toEqual([
      ["mockb-ap-northeast-1a"], ["mockb-ap-northeast-1b"], ["mockb-cn-hangzhou-h", "mockb-cn-hangzhou-k"],
    ]);
    expect(healthy.split["mockb-ap-northeast-1a"]).toBe(100);
    expect((await plan(file, "mockb-ap-northeast-1a ejected")).split["mockb-ap-northeast-1b"]).toBe(100);
    expect((await plan(file, "region ap-northeast-1 ejected")).split).toEqual({
      "mockb-ap-northeast-1a": 0, "mockb-ap-northeast-1b": 0, "mockb-cn-hangzhou-h": 50, "mockb-cn-hangzhou-k": 50,
    });
  });
});

describe("every shipped scenario", () => {
  it.each(["000-edge-gateway.yaml", "001-waypoint-cluster.yaml", "003-ingress-zones.yaml", "004-asm-zones.yaml"])(
    "%s plans every case, with shares that sum to 100 and a readable table",
    async (file) => {
      for (const c of scenario(file).plan) {
        const r = await runPlan(c);
        const total = Object.values(r.split).reduce((a, b) => a + b, 0);
        expect(total).toBeCloseTo(100, 2);
        expect(r.warnings).toEqual([]);
        const text = formatPlan(r);
        expect(text).toContain(`: ${c.name}\n`);
        for (const name of Object.keys(r.split)) expect(text).toContain(name);
      }
    },
  );
});

describe("output", () => {
  it("--json gives one object with the first route's split, or {cases} for several", async () => {
    const r = await plan("003-ingress-zones.yaml", "5 of 14 healthy in zone 1");
    const one = JSON.parse(JSON.stringify(planJson([r])));
    expect(one.split).toEqual({ "user-zone1": 50, "user-zone2": 50 });
    expect(one.routes[0].name).toBe("user");
    expect(planJson([r, r])).toEqual({ cases: [r, r] });
  });
});

describe("a policy the module rejects", () => {
  it("gives the module's error lines, each placed in the file that wrote the member", async () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-plan-"));
    writeFileSync(join(dir, "policy.yaml"), `clusters:
  - name: c1
routes:
  - name: r
    destination:
      mode: weighted
      weights:
        c1: 50
        c9: 50
`);
    writeFileSync(join(dir, "scenario.yaml"), `policy: policy.yaml
plan:
  - name: what if
    assume:
      c7: { score: 50 }
`);
    const [c] = loadScenario(join(dir, "scenario.yaml")).plan;
    const err = await runPlan(c).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyRejected);
    expect((err as PolicyRejected).problems).toEqual([
      expect.stringMatching(/policy\.yaml:9:9: failover: policy: routes\[0\]\.destination\.weights\.c9: unknown cluster "c9"$/),
      expect.stringMatching(/scenario\.yaml:5:7: failover: policy: assume\.c7: unknown cluster "c7"$/),
    ]);
  });
});
