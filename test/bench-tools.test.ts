// The benchmarks' measuring tools, on tiny counts and with no timing: the host-call counter
// (bench/host-calls.mjs) counts what the module calls and changes nothing it decides, the profile
// summary (bench/profile.mjs) adds self time up correctly, and the scaling charts say which
// points the policy refused. The scripts import the built dist/ and build/ (npm test builds them).
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import type { PluginVm } from "../extproc/host/index.js";
import { root } from "./support/wasm.js";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Count = { total: number; byKind: Record<string, number>; byPhase: Record<string, number> };
interface Bench {
  filter: { VARIANTS: [string, () => PluginVm][]; REQUEST: [string, string][]; FLOOR: string };
  calls: { countOne(make: () => PluginVm, warmup?: number): Count; countingHostCalls(make: () => PluginVm): { vm: PluginVm; counts: Map<string, number> } };
  profile: { topSelf(p: object, n?: number): { samplesMs: number; wasmPercent: number; byArea: Record<string, number>; top: { entry: string; percent: number }[] } };
  scaling: { DIMENSIONS: { key: string }[]; chartSpec(d: object, us: Map<string, number>, skipped: object[]): object; policyFor(clusters: number, routes: number): Doc };
  report: { renderSvg(spec: object): Promise<string> };
}

const load = (f: string) => import(pathToFileURL(join(root, "bench", f)).href);

describe("benchmark tools", () => {
  let b: Bench;
  const variant = (name: string) => b.filter.VARIANTS.find(([n]) => n === name)![1];

  beforeAll(async () => {
    b = { filter: await load("filter.mjs"), calls: await load("host-calls.mjs"), profile: await load("profile.mjs"), scaling: await load("scaling.mjs"), report: await load("report-lib.mjs") };
  });

  it("counts no host call for the empty module and exactly one header write for the one-header module", () => {
    expect(b.calls.countOne(variant(b.filter.FLOOR), 3)).toEqual({ total: 0, byKind: {}, byPhase: { "request headers": 0, "response headers": 0, log: 0 } });
    const one = b.calls.countOne(variant("one-header module"), 3);
    expect(one.byKind).toEqual({ proxy_replace_header_map_value: 1 });
    expect(one.byPhase["request headers"]).toBe(1);
  });

  it("counts the failover filter's calls by kind and by phase, and both add up to the total", () => {
    const c = b.calls.countOne(variant("failover, 4 clusters"), 3);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, x) => a + x, 0);
    expect(c.total).toBeGreaterThan(1);
    expect(sum(c.byKind)).toBe(c.total);
    expect(sum(c.byPhase)).toBe(c.total);
    expect(c.byKind.proxy_replace_header_map_value).toBeGreaterThanOrEqual(1); // the routing header
  });

  it("does not change what the filter decides", () => {
    const decide = (vm: PluginVm) => {
      const s = vm.createStream({ source: { address: "203.0.113.7:40000" } });
      s.sendRequestHeaders(b.filter.REQUEST, true);
      return s.requestHeaders.entries.map((e) => `${e.name}: ${Buffer.from(e.value).toString()}`);
    };
    const make = variant("failover, 4 clusters");
    const { vm, counts } = b.calls.countingHostCalls(make);
    expect(decide(vm)).toEqual(decide(make()));
    expect(counts.size).toBeGreaterThan(0);
  });

  it("sums a CPU profile's self time per function and per area, leaving idle time out", () => {
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: "0" });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", "") },
        { id: 2, callFrame: frame("writeHeader", `file://${root}/dist/host/vm.js`, 343) },
        { id: 3, callFrame: frame("$decide", "wasm://wasm/abc") },
        { id: 4, callFrame: frame("(idle)", "") },
      ],
      samples: [2, 3, 2, 4, 2],
      timeDeltas: [100, 200, 100, 5000, 100],
    };
    const s = b.profile.topSelf(profile, 2);
    expect(s.samplesMs).toBe(0.5);
    expect(s.wasmPercent).toBe(40);
    expect(s.top).toEqual([{ entry: "writeHeader dist/host/vm.js:344", percent: 60 }, { entry: "$decide wasm", percent: 40 }]);
    expect(s.byArea).toEqual({ "host (extproc/host)": 60, "the module (wasm)": 40 });
  });

  it("measures 256 clusters as 64 candidates (the policy's limit) each named through an aggregate of 4", async () => {
    const { vmFor, request, REQUEST } = await load("filter.mjs");
    const p = b.scaling.policyFor(256, 1);
    expect(p.clusters).toHaveLength(64);
    expect(p.aggregates).toHaveLength(64);
    expect(new Set(p.aggregates.flatMap((a: Doc) => a.clusters)).size).toBe(64);
    expect(p.aggregates.every((a: Doc) => a.clusters.length === 4)).toBe(true);
    const vm: PluginVm = vmFor("failover", p);
    const s = vm.createStream({});
    s.sendRequestHeaders(REQUEST, true);
    expect(s.requestHeaders.get("x-failover-upstream")).toMatch(/^agg-cluster-\d+$/);
    request(vm); // and the whole request, as the bench runs it
  });

  it("charts a dimension and says which points were not measured, and why", async () => {
    const d = b.scaling.DIMENSIONS.find((x) => x.key === "clusters")!;
    const us = new Map([
      ["failover, 1 clusters, 1 routes, 20 headers", 20], ["failover, 4 clusters, 1 routes, 20 headers", 21],
      [`${b.filter.FLOOR}, 20 headers`, 4],
    ]);
    const skipped = [{ name: "failover, 256 clusters, 1 routes, 20 headers", point: { clusters: 256, routes: 1, headers: 20 }, reason: "at most 64 clusters" }];
    const svg = await b.report.renderSvg(b.scaling.chartSpec(d, us, skipped));
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain("256 clusters: not measured (at most 64 clusters)");
    expect(svg).toContain("failover filter");
  });
});
