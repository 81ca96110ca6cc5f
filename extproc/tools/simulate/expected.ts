// What Envoy's rule says the split should be after each failure event of a simulation: the
// healthy share of every inventory cluster is its healthy endpoints / its endpoints (the world the
// scenario describes, not what the filter has measured), and the split is the module's own
// arithmetic for that health (`failover plan` with `assume: {cluster: {healthy, total}}`). The
// report compares the observed split with it.

import { runPlan } from "../plan.js";
import type { SimulateCase, UpstreamEvent } from "../scenario.js";

export interface Expectation {
  /** The event's cluster: healthy endpoints of its endpoints once the event happened. */
  healthy: number;
  total: number;
  /** Percent of the first route's requests the rule gives the event's cluster. */
  share: number;
}

/** Healthy endpoints per inventory cluster just after every event at or before `atMs`. */
export function healthyEndpointsAt(c: SimulateCase, atMs: number): Map<string, { healthy: number; total: number }> {
  const failing = new Map<string, number>();
  for (const e of c.events) {
    if (e.atMs > atMs) break;
    const n = c.envoyClusters.get(e.cluster)!.endpoints;
    if (e.kind === "down") failing.set(e.cluster, n);
    else if (e.kind === "errorRate") failing.set(e.cluster, Math.round(e.rate * n));
    else if (e.kind === "recover") failing.set(e.cluster, 0);
  }
  return new Map(c.clusters.map((name) => {
    const total = c.envoyClusters.get(name)!.endpoints;
    return [name, { healthy: total - (failing.get(name) ?? 0), total }];
  }));
}

/** The events the report measures: failures (not recoveries, not an error rate of 0). */
export const isFailureEvent = (e: UpstreamEvent) => e.kind !== "recover" && !(e.kind === "errorRate" && e.rate === 0);

/**
 * The expected split after each failure event that changes endpoint health (a latency event
 * does not: Envoy's rule counts healthy endpoints, not their speed).
 */
export async function expectations(c: SimulateCase): Promise<Map<UpstreamEvent, Expectation>> {
  const out = new Map<UpstreamEvent, Expectation>();
  for (const e of c.events.filter(isFailureEvent)) {
    if (e.kind === "latency") continue;
    const health = healthyEndpointsAt(c, e.atMs);
    const assume = Object.fromEntries([...health].map(([name, h]) => [name, h]));
    const plan = await runPlan({ ...c, config: { ...c.config, assume }, requests: [] });
    const { healthy, total } = health.get(e.cluster)!;
    out.set(e, { healthy, total, share: plan.split[e.cluster] ?? 0 });
  }
  return out;
}
