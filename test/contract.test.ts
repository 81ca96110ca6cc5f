// What both languages share (extproc/module/contract.ts) against the module itself: its
// behaviour where behaviour shows the value (routing header, owned headers, plan key and shape),
// its source where it cannot (the response-flag bits it tests outcomes with). A change on one
// side that the other does not follow fails here.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PluginVm } from "../extproc/host/index.js";
import {
  DEFAULT_ROUTING_HEADER, EXPLANATION_HEADERS, MODULE_FILE_NAME, OPTIONAL_PLAN_FIELDS, PLAN_FIELDS, RETRY_HEADERS, ResponseFlag, ownedHeaders, planKey,
} from "../extproc/module/contract.js";
import { FAILOVER_WASM, readPlan } from "../extproc/module/failover-module.js";
import { moduleOwnedHeaders } from "../extproc/module/owned-headers.js";
import { compiled, root } from "./support/wasm.js";

const POLICY = {
  locality: { region: "r1", zone: "z1" },
  clusters: [{ name: "a", region: "r1", zone: "z1", hosts: ["svc"] }, { name: "b", region: "r2", zone: "z2", hosts: ["svc"] }],
  aggregates: [{ name: "a-then-b", clusters: ["a", "b"] }, { name: "b-then-a", clusters: ["b", "a"] }],
  routes: [{
    name: "svc", match: { authority: "svc" }, destination: { mode: "named", clusters: ["a", "b"] },
    retry: { retryOn: "5xx,reset,retriable-status-codes", numRetries: 2, perTryTimeout: "1500ms", retriableStatusCodes: [409] },
  }],
};

describe("the contract of the two languages", () => {
  it("names the module file the build writes", () => {
    expect(FAILOVER_WASM.endsWith(`/build/${MODULE_FILE_NAME}`)).toBe(true);
    expect(statSync(FAILOVER_WASM).size).toBeGreaterThan(0);
  });

  it("owns exactly the headers the module writes or removes, the default routing header among them", () => {
    const module = compiled(FAILOVER_WASM);
    expect(moduleOwnedHeaders(module, JSON.stringify(POLICY), { authority: "svc", path: "/" })).toEqual(ownedHeaders());
    expect(ownedHeaders()).toContain(DEFAULT_ROUTING_HEADER);
    expect(ownedHeaders()).toEqual(expect.arrayContaining([...EXPLANATION_HEADERS, ...RETRY_HEADERS]));
    // A policy's own routing header replaces the default.
    const named = moduleOwnedHeaders(module, JSON.stringify({ ...POLICY, routingHeader: "x-route-to" }), { authority: "svc", path: "/" });
    expect(named).toEqual(ownedHeaders("x-route-to"));
    expect(named).not.toContain(DEFAULT_ROUTING_HEADER);
  });

  it("reads the plan under the key the module publishes, per root context, in the shape the types say", () => {
    for (const rootId of ["", "w1"]) {
      const vm = new PluginVm(compiled(FAILOVER_WASM), { pluginConfig: JSON.stringify(POLICY), vmId: "failover", rootId, logger: () => {} }).start();
      expect(vm.shared.get(vm.vmId, planKey(rootId))).toBeDefined();
      const plan = readPlan(vm, rootId);
      const shape = (o: object, members: string[]) => {
        const keys = Object.keys(o);
        expect(members).toEqual(expect.arrayContaining(keys));
        expect(keys).toEqual(expect.arrayContaining(members.filter((m) => !OPTIONAL_PLAN_FIELDS.includes(m))));
      };
      shape(plan, PLAN_FIELDS.plan);
      shape(plan.locality, PLAN_FIELDS.locality);
      expect(plan.routes.length).toBeGreaterThan(0);
      expect(plan.clusters.length).toBeGreaterThan(0);
      for (const r of plan.routes) {
        shape(r, PLAN_FIELDS.route);
        for (const p of r.priorities) shape(p, PLAN_FIELDS.priority);
        for (const c of r.clusters) shape(c, PLAN_FIELDS.routeCluster);
      }
      for (const c of plan.clusters) shape(c, PLAN_FIELDS.cluster);
      vm.shutdown();
    }
  });

  it("has the response-flag bits the module's source tests outcomes with", () => {
    // The module reads response.flags as a number and names the bits FLAG_<Envoy's short name>.
    const found: [string, number][] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith(".ts")) {
          for (const m of readFileSync(p, "utf8").matchAll(/\bFLAG_([A-Z]+)\s*(?::\s*\w+)?\s*=\s*(0x[0-9a-fA-F]+|\d+)\b/g)) found.push([m[1], Number(m[2])]);
        }
      }
    };
    walk(join(root, "assembly"));
    expect(found.length).toBeGreaterThanOrEqual(5);
    for (const [name, bit] of found) expect([name, (ResponseFlag as Record<string, number>)[name]]).toEqual([name, bit]);
  });
});
