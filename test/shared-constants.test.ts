// assembly/shared.ts lists the published plan's members for the TypeScript side; this test runs
// the real module and checks that the plan it publishes has exactly those members, at every level.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Failover } from "./support/failover.js";

const SHARED = readFileSync(new URL("../assembly/shared.ts", import.meta.url), "utf8");

/** The comma-separated value of `export const NAME = "..."` in assembly/shared.ts. */
function fields(name: string): string[] {
  const m = new RegExp(`export const ${name} = "([^"]*)"`).exec(SHARED);
  if (!m) throw new Error(`assembly/shared.ts defines no ${name}`);
  return m[1].split(",").sort();
}
const keys = (o: object) => Object.keys(o).sort();

describe("the published plan's members (assembly/shared.ts)", () => {
  it("are exactly what the module publishes: plan, locality, route, priority, route cluster, cluster", () => {
    const f = new Failover({
      locality: { region: "r1", zone: "a" },
      clusters: [
        { name: "near", region: "r1", zone: "a", hosts: ["svc.example.com"] },
        { name: "far", region: "r2", zone: "b", hosts: ["svc.example.com"] },
      ],
      aggregates: [{ name: "near-then-far", clusters: ["near", "far"] }],
      routes: [{ name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "auto" }, retry: { acrossClusters: true } }],
    });
    // One answer from an endpoint Envoy names: "near" then carries the optional endpoint counts.
    const s = f.request("svc.example.com");
    s.sendResponseHeaders([[":status", "200"]], true);
    s.end({ response: { code: 200, flags: 0 }, upstream: { request_attempt_count: 1, address: "10.0.0.1:8080" } });
    f.advance(250);
    const plan = f.plan();
    expect(keys(plan)).toEqual(fields("PLAN_FIELDS"));
    expect(keys(plan.locality)).toEqual(fields("PLAN_LOCALITY_FIELDS"));
    expect(keys(plan.routes[0])).toEqual(fields("PLAN_ROUTE_FIELDS"));
    expect(keys((plan.routes[0] as any).priorities[0])).toEqual(fields("PLAN_PRIORITY_FIELDS"));
    // "near" is named through its aggregate, so it carries the optional `via`.
    const near = plan.routes[0].clusters.find((c) => c.name === "near")!;
    expect(near.via).toBe("near-then-far");
    expect(keys(near)).toEqual(fields("PLAN_ROUTE_CLUSTER_FIELDS"));
    expect(keys(plan.clusters.find((c) => c.name === "near")!)).toEqual(fields("PLAN_CLUSTER_FIELDS"));
  });

  it("the routing header's default, the owned headers and the plan key are the ones the module uses", () => {
    const value = (name: string) => new RegExp(`export const ${name} = "([^"]*)"`).exec(SHARED)![1];
    const list = (name: string) => JSON.parse(new RegExp(`export const ${name} = (\\[[^\\]]*\\])`).exec(SHARED)![1]) as string[];
    const f = new Failover({
      clusters: [{ name: "c1", hosts: ["*"] }],
      routes: [{ name: "r", destination: { mode: "named", clusters: ["c1"] } }],
    });
    expect(f.vm.shared.get(f.vm.vmId, value("PLAN_KEY"))).toBeTruthy();
    const forged: [string, string][] = [...list("EXPLANATION_HEADERS"), ...list("RETRY_HEADERS")].map((h) => [h, "forged"]);
    const h = f.request("svc.example.com", forged).requestHeaders;
    expect(h.get(value("DEFAULT_ROUTING_HEADER"))).toBe("c1");
    // Every owned header is the module's (explanations) or gone (no retry policy on this route).
    for (const name of list("EXPLANATION_HEADERS")) expect(h.get(name)).not.toBe("forged");
    for (const name of list("RETRY_HEADERS")) expect(h.has(name)).toBe(false);
  });
});
