// `failover plan`: what the module would do for a policy and a given health state. It starts the
// built module with the policy plus the scenario's `assume` (health per cluster) on a fixed clock,
// delivers one tick, reads the plan the module published, and optionally sends one sample request
// per scenario request shape to show the headers the module sets. Nothing here decides anything.

import {
  EPOCH_NS, PlanCluster, PlanRoute, PublishedPlan, failoverModule, readPlan, startFailover,
} from "../module/failover-module.js";
import { display } from "../module/policy-file.js";
import type { PlanCase } from "./scenario.js";
import { pct, table } from "./table.js";

export interface SampleRequest {
  method: string;
  authority: string;
  path: string;
  /** The routing header, `x-failover-*` and `x-envoy-*` headers the module left on the request. */
  headers: Record<string, string>;
}

export interface PlanResult {
  scenario: string;
  case: string;
  description: string;
  /** The first route's split: the common case of a policy with one route. */
  split: Record<string, number>;
  locality: PublishedPlan["locality"];
  routes: PlanRoute[];
  clusters: PlanCluster[];
  requests: SampleRequest[];
  /** Module log lines at warning level or above. */
  warnings: string[];
}

export async function runPlan(c: PlanCase): Promise<PlanResult> {
  const warnings: string[] = [];
  const vm = startFailover(await failoverModule(), {
    config: c.config, clock: () => EPOCH_NS, where: c.where, onLog: (m) => warnings.push(m),
  });
  vm.tick();
  const plan = readPlan(vm);
  // The sample requests are not completed (no on_log), so they leave health as assumed.
  const requests = c.requests.map((r): SampleRequest => {
    const s = vm.createStream({ source: { address: "10.0.0.1:40000", port: 40000 } });
    s.sendRequestHeaders([[":method", r.method], [":path", r.path], [":authority", r.authority], [":scheme", "http"], ...r.headers], true);
    const headers: Record<string, string> = {};
    for (const e of s.requestHeaders.entries) {
      if (e.name === c.routingHeader || e.name.startsWith("x-failover-") || e.name.startsWith("x-envoy-")) {
        headers[e.name] = s.requestHeaders.get(e.name)!;
      }
    }
    return { method: r.method, authority: r.authority, path: r.path, headers };
  });
  vm.shutdown();
  return {
    scenario: display(c.scenario), case: c.name, description: c.description,
    split: plan.routes[0]?.split ?? {}, locality: plan.locality, routes: plan.routes, clusters: plan.clusters,
    requests, warnings,
  };
}

/** One result as itself; several as `{cases: [...]}` (a scenario with many plan cases). */
export function planJson(results: PlanResult[]): unknown {
  return results.length === 1 ? results[0] : { cases: results };
}

export function formatPlan(r: PlanResult): string {
  const loc = r.locality;
  let out = `${r.scenario}: ${r.case}\n`;
  if (r.description) out += `${r.description.trim().replace(/^/gm, "  ")}\n`;
  out += `proxy locality: ${[loc.region, loc.zone, loc.subzone].join("/")}${loc.cluster ? ` (cluster ${loc.cluster})` : ""}\n`;
  const scores = new Map(r.clusters.map((c) => [c.name, c]));
  for (const route of r.routes) {
    out += `\nroute ${route.name} (${route.mode})${route.panic ? "  PANIC: every priority below the panic threshold" : ""}\n`;
    // A weighted route has no priorities: its weights are the split.
    if (route.priorities.length) {
      out += table(
        ["priority", "health", "load", "panic", "clusters"],
        route.priorities.map((p) => [String(p.priority), String(p.health), `${p.load}%`, p.panic ? "yes" : "no", p.clusters.join(", ")]),
      ) + "\n";
    }
    out += table(
      ["cluster", "share", "priority", "score", "reason", ""],
      route.clusters.map((c) => [
        c.name, pct(c.share), String(c.priority), String(c.score), c.reason,
        [c.ejected ? "ejected" : "", scores.get(c.name)?.assumed && c.reason !== "assumed" ? "assumed" : "", c.via ? `via ${c.via}` : "",
          endpointsTag(scores.get(c.name))]
          .filter(Boolean).join(", "),
      ]),
    );
  }
  if (r.requests.length) {
    out += "\nsample requests:\n";
    for (const q of r.requests) {
      out += `  ${q.method} ${q.authority}${q.path}\n`;
      const names = Object.keys(q.headers);
      out += names.length ? table(["header", "value"], names.map((n) => [n, q.headers[n]]), "    ") : "    (no headers set)\n";
    }
  }
  for (const w of r.warnings) out += `module: ${w}\n`;
  return out;
}

/** Where a cluster's health comes from, when Envoy names its endpoints: "endpoints 9/14 healthy". */
function endpointsTag(c: PlanCluster | undefined): string {
  if (c?.healthFrom !== "endpoints" || c.endpoints === undefined) return "";
  return `endpoints ${c.endpoints - (c.ejectedEndpoints ?? 0)}/${c.endpoints} healthy`;
}
