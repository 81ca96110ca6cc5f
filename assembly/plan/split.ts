// Stage 3 of the decision: the split. Envoy's priority arithmetic (load_balancer_impl.cc: recalculatePerPriorityState,
// recalculatePerPriorityPanic, recalculateLoadInTotalPanic) and locality-weighted shares inside a
// priority (upstream_impl.cc: effectiveLocalityWeight), applied to clusters: each candidate
// cluster is a locality with `total` hosts of which `healthy` are healthy.
// All per-priority numbers are Envoy's integer percentages; the rounding remainder goes to the
// first priority with health (or with hosts, in total panic), exactly as Envoy does.
// RouteSplitter applies it to one route: shares in basis points, probes, and a reason each.

import { HealthSpec, Mode, RouteSpec } from "../policy/model";
import { ClusterHealth } from "./health";
import { RoutePriorities } from "./priorities";

/** Per-priority outcome of Envoy's arithmetic. */
export class PriorityLoad {
  health: Array<i32> = [];
  load: Array<i32> = [];
  panic: Array<bool> = [];
  totalPanic: bool = false;
  /** Normalized total availability (Envoy's NTA), 0..100. */
  nta: i32 = 0;

  reset(levels: i32): void {
    this.health.length = levels;
    this.load.length = levels;
    this.panic.length = levels;
    for (let p = 0; p < levels; p++) { this.health[p] = 0; this.load[p] = 0; this.panic[p] = false; }
    this.totalPanic = false;
    this.nta = 0;
  }
}

/**
 * hosts[p], healthy[p]: host counts per priority (healthy may be fractional when it comes from a
 * health score). op: overprovisioning factor in percent (140). panicThreshold in percent.
 */
export function priorityLoad(hosts: Array<f64>, healthy: Array<f64>, op: i32, panicThreshold: f64, out: PriorityLoad): void {
  const n = hosts.length;
  out.reset(n);
  let sum = 0;
  for (let p = 0; p < n; p++) {
    if (hosts[p] > 0) {
      // 1e-9 keeps exact integer ratios (140*5/14 = 50) from landing a hair below.
      out.health[p] = min<i32>(100, <i32>Math.floor(<f64>op * healthy[p] / hosts[p] + 1e-9));
    }
    sum += out.health[p];
  }
  out.nta = min<i32>(100, sum);
  if (out.nta > 0) {
    let total = 100;
    let first = -1;
    for (let p = 0; p < n; p++) {
      if (first < 0 && out.health[p] > 0) first = p;
      out.load[p] = min<i32>(total, out.health[p] * 100 / out.nta);
      total -= out.load[p];
    }
    if (total != 0 && first >= 0) out.load[first] += total;
  }
  // With panic off and nothing healthy Envoy puts 100% on P0, marks no priority in panic and
  // selects no host (503 no_healthy_upstream): the plan names P0 and reports no panic
  // (recalculatePerPriorityPanic). Otherwise a priority below the threshold is in panic
  // (isHostSetInPanic), never while the total availability is 100.
  if (out.nta == 0 && panicThreshold <= 0) {
    if (n > 0) out.load[0] = 100;
    return;
  }
  let totalPanic = n > 0;
  for (let p = 0; p < n; p++) {
    const pct = hosts[p] > 0 ? 100 * healthy[p] / hosts[p] : 0;
    out.panic[p] = out.nta == 100 ? false : pct < panicThreshold;
    totalPanic = totalPanic && out.panic[p];
  }
  out.totalPanic = totalPanic;
  if (totalPanic) {
    let all: f64 = 0;
    for (let p = 0; p < n; p++) all += hosts[p];
    let total = 100;
    let first = -1;
    for (let p = 0; p < n; p++) {
      out.load[p] = all > 0 ? <i32>Math.floor(100 * hosts[p] / all + 1e-9) : (p == 0 ? 100 : 0);
      total -= out.load[p];
      if (first < 0 && hosts[p] > 0) first = p;
      out.panic[p] = true;
    }
    if (total != 0) out.load[first >= 0 ? first : 0] += total;
  }
}

/** Locality-weighted share inside a priority: weight x min(1, op/100 x healthy/total). */
// @ts-ignore: decorator
@inline export function effectiveWeight(weight: f64, healthy: f64, total: f64, op: i32): f64 {
  if (total <= 0) return 0;
  return weight * min<f64>(1, <f64>op / 100 * healthy / total);
}

/**
 * Turns non-negative shares into whole basis points that sum to exactly 10000 (largest
 * remainder), so percentages printed with two decimals always add up to 100.
 */
export function toBasisPoints(shares: Array<f64>, out: Array<i32>): void {
  const n = shares.length;
  out.length = n;
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) sum += shares[i];
  if (sum <= 0) {
    for (let i = 0; i < n; i++) out[i] = 0;
    return;
  }
  let given = 0;
  for (let i = 0; i < n; i++) {
    out[i] = <i32>Math.floor(shares[i] / sum * 10000);
    given += out[i];
  }
  while (given < 10000) {
    // Hand the remainder out one point at a time to the largest fractional parts.
    let best = -1;
    let bestFrac: f64 = -1;
    for (let i = 0; i < n; i++) {
      const frac = shares[i] / sum * 10000 - <f64>out[i];
      if (shares[i] > 0 && frac > bestFrac) { best = i; bestFrac = frac; }
    }
    out[best]++;
    given++;
  }
}

/** One route's split as of one refresh: Envoy's per-priority outcome, and per candidate. */
export class RouteSplit {
  load: PriorityLoad = new PriorityLoad();
  /** Share in basis points (sum 10000, or all 0). */
  bp: Array<i32> = [];
  reason: Array<string>;
  /** Gets a probe share (ejected, retried across clusters): recovery is noticed early. */
  probe: Array<bool>;

  constructor(n: i32) {
    this.reason = new Array<string>(n);
    this.probe = new Array<bool>(n);
  }
}

/** A route's split over the clusters' health of this refresh. */
export function splitRoute(spec: RouteSpec, prio: RoutePriorities, clusters: Array<ClusterHealth>, h: HealthSpec): RouteSplit {
  const n = spec.clusters.length;
  const out = new RouteSplit(n);
  const shares = new Array<f64>(n);
  if (spec.mode == Mode.Weighted) {
    for (let i = 0; i < n; i++) {
      shares[i] = <f64>spec.weights[i];
      out.reason[i] = "weighted";
    }
  } else {
    const op = h.overprovisioning;
    const levels = prio.levels;
    // Host counts per priority, for Envoy's arithmetic.
    const hosts = new Array<f64>(levels);
    const healthy = new Array<f64>(levels);
    for (let i = 0; i < n; i++) {
      if (prio.weight[i] == 0) continue; // excluded by distribute: not in the pool at all
      const c = clusters[spec.clusters[i]];
      hosts[prio.level[i]] += c.total;
      healthy[prio.level[i]] += c.healthy;
    }
    const load = out.load;
    priorityLoad(hosts, healthy, op, h.panicThreshold, load);
    // Inside each priority: locality-weighted shares, or all hosts alike in panic.
    const weights = new Array<f64>(n);
    for (let p = 0; p < levels; p++) {
      let sum: f64 = 0;
      for (let i = 0; i < n; i++) {
        if (prio.level[i] != p) continue;
        const c = clusters[spec.clusters[i]];
        const w = <f64>prio.weight[i];
        const weight = w == 0 ? 0 : load.panic[p] ? c.total : effectiveWeight(w, c.healthy, c.total, op);
        weights[i] = weight;
        sum += weight;
      }
      // A priority with load but no healthy weight (panic off, nothing healthy: Envoy's P0)
      // is named by its locality weights; Envoy finds no host there.
      const byWeight = sum == 0;
      for (let i = 0; i < n; i++) {
        if (prio.level[i] != p) continue;
        if (byWeight) { weights[i] = <f64>prio.weight[i]; sum += weights[i]; }
      }
      for (let i = 0; i < n; i++) {
        if (prio.level[i] != p) continue;
        shares[i] = sum > 0 ? <f64>load.load[p] * weights[i] / sum : 0;
      }
    }
    addProbes(spec, prio, clusters, h.probePercent, shares, out);
    let higherLoad = 0;
    for (let p = 0; p < levels; p++) {
      for (let i = 0; i < n; i++) {
        if (prio.level[i] != p) continue;
        const c = clusters[spec.clusters[i]];
        let reason = "local";
        if (prio.weight[i] == 0) reason = "excluded";
        else if (out.probe[i]) reason = "probe";
        else if (shares[i] == 0 || (c.healthy == 0 && !load.panic[p])) reason = c.ejected ? "ejected" : c.healthy > 0 ? "standby" : "unhealthy";
        else if (prio.distribute >= 0) reason = "distribute";
        else if (load.panic[p]) reason = "panic";
        else if (p > 0) reason = higherLoad == 0 ? "failover" : "spill";
        if (c.assumed && reason == "local") reason = "assumed";
        out.reason[i] = reason;
      }
      higherLoad += load.load[p];
    }
  }
  toBasisPoints(shares, out.bp);
  return out;
}

/**
 * Ejected clusters (not drained by assumption) get a probe share so that recovery is noticed
 * before the ejection ends. Only where the route retries across clusters (an aggregate names
 * the probed cluster first): a failed probe is then retried in the next cluster and no client
 * sees it. The share is taken from the others in proportion, when there are others.
 */
function addProbes(spec: RouteSpec, prio: RoutePriorities, clusters: Array<ClusterHealth>, pct: f64, shares: Array<f64>, out: RouteSplit): void {
  const n = spec.clusters.length;
  let probes: f64 = 0;
  let rest: f64 = 0;
  for (let i = 0; i < n; i++) {
    const c = clusters[spec.clusters[i]];
    // In a panicking priority an ejected cluster shares the load by host count, as in Envoy.
    out.probe[i] = pct > 0 && c.ejected && !c.assumed && prio.weight[i] > 0 && prio.aggregate[i] >= 0 && !out.load.panic[prio.level[i]];
    if (out.probe[i]) probes += pct;
    else rest += shares[i];
  }
  if (probes == 0 || rest <= 0) {
    for (let i = 0; i < n; i++) out.probe[i] = false;
    return;
  }
  const total = probes;
  probes = min<f64>(probes, 50);
  for (let i = 0; i < n; i++) {
    shares[i] = out.probe[i] ? pct * probes / total : shares[i] * (100 - probes) / rest;
  }
}
