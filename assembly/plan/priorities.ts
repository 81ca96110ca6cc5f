// Stage 1 of the decision: which priority each candidate cluster of a route sits in, by Istio's
// rules (pilot's loadbalancer.go): the default region/zone/subzone ladder, `failover` from one
// region to another, `failoverPriority` label lists, and `distribute` weights (which replace
// failover); and, with retries across clusters, the aggregate that names each candidate.
// Computed once per configuration: the proxy's locality does not change while it runs.

import { ClusterSpec, DistributeRule, Locality, Policy, RouteSpec } from "../policy/model";
import { field } from "../text";

const SLASH = 47;

export class RoutePriorities {
  /** Priority level (0 = most preferred) per candidate, compacted to 0..levels-1. */
  level: Array<i32> = [];
  levels: i32 = 0;
  /** Locality weight per candidate (distribute may change it; 0 = no traffic). */
  weight: Array<i32> = [];
  /** The distribute rule that applied, or -1. */
  distribute: i32 = -1;
  /** A distribute rule matched the proxy but claimed none of the route's clusters: ignored. */
  distributeClaimedNothing: bool = false;
  /** Per candidate, the aggregate (index into policy.aggregates) to name instead of it, or -1. */
  aggregate: Array<i32> = [];
}

export function routePriorities(p: Policy, route: RouteSpec, proxy: Locality): RoutePriorities {
  const out = new RoutePriorities();
  const n = route.clusters.length;
  const raw = new Array<i32>(n);
  for (let i = 0; i < n; i++) out.weight.push(p.clusters[route.clusters[i]].weight);

  let rule = firstDistribute(route.distribute, proxy);
  if (rule >= 0) {
    // distribute replaces failover: one priority, weights per target locality pattern. A rule
    // that claims none of the clusters would leave the route nothing (Istio: no endpoints);
    // the ladder serves it instead, and the root says so.
    applyDistribute(p, route, route.distribute[rule], out.weight);
    let claimed = false;
    for (let i = 0; i < n; i++) claimed = claimed || out.weight[i] > 0;
    if (claimed) out.distribute = rule;
    else {
      out.distributeClaimedNothing = true;
      for (let i = 0; i < n; i++) out.weight[i] = p.clusters[route.clusters[i]].weight;
      rule = -1;
    }
  }
  if (rule >= 0) {
    for (let i = 0; i < n; i++) raw[i] = 0;
  } else {
    for (let i = 0; i < n; i++) {
      const c = p.clusters[route.clusters[i]];
      let prio = 0;
      if (route.failoverPriority.length > 0) {
        prio = labelPriority(route.failoverPriority, proxy, c.locality);
        if (route.failover.length > 0) prio = prio * 5 + localityPriority(route, proxy, c.locality);
      } else {
        prio = localityPriority(route, proxy, c.locality);
      }
      raw[i] = prio;
    }
  }
  // Compact the distinct values to 0..K-1 (Istio does, so empty tiers disappear).
  const distinct = new Array<i32>();
  for (let i = 0; i < n; i++) if (!distinct.includes(raw[i])) distinct.push(raw[i]);
  for (let i = 1; i < distinct.length; i++) { // insertion sort: a handful of values
    const v = distinct[i];
    let j = i - 1;
    while (j >= 0 && distinct[j] > v) { distinct[j + 1] = distinct[j]; j--; }
    distinct[j + 1] = v;
  }
  for (let i = 0; i < n; i++) out.level.push(distinct.indexOf(raw[i]));
  out.levels = distinct.length;
  for (let i = 0; i < n; i++) out.aggregate.push(aggregateFor(p, route, out.level, i));
  return out;
}

/**
 * With retries across clusters, the aggregate whose first child is candidate `i` and whose
 * second child is another candidate of the route, preferring the most preferred second child.
 */
function aggregateFor(p: Policy, route: RouteSpec, level: Array<i32>, i: i32): i32 {
  if (route.retry === null || !route.retry!.acrossClusters) return -1;
  const first = route.clusters[i];
  let best = -1;
  let bestLevel = i32.MAX_VALUE;
  for (let a = 0; a < p.aggregates.length; a++) {
    const agg = p.aggregates[a];
    if (agg.clusters[0] != first) continue;
    const second = route.clusters.indexOf(agg.clusters[1]);
    if (second < 0) continue;
    if (level[second] < bestLevel) { best = a; bestLevel = level[second]; }
  }
  return best;
}

/** Istio's default ladder (0 same subzone, 1 same zone, 2 same region, 3 other region) with failover rules. */
function localityPriority(route: RouteSpec, proxy: Locality, l: Locality): i32 {
  if (l.region == proxy.region) {
    if (l.zone == proxy.zone) return l.subzone == proxy.subzone ? 0 : 1;
    return 2;
  }
  for (let i = 0; i < route.failover.length; i++) {
    const rule = route.failover[i];
    if (rule.from != proxy.region) continue;
    // The first rule for the proxy's region decides: its target region stays at 3, the rest drop to 4.
    return l.region == rule.to ? 3 : 4;
  }
  return 3;
}

/**
 * failoverPriority: N labels; a cluster whose first mismatch is at index j gets N - j (0 when all
 * match). A label written "name=value" compares the cluster's label with the literal value.
 */
function labelPriority(labels: Array<string>, proxy: Locality, l: Locality): i32 {
  const n = labels.length;
  for (let j = 0; j < n; j++) {
    const spec = labels[j];
    const eq = spec.indexOf("=");
    const name = eq < 0 ? spec : spec.substring(0, eq);
    const want = eq < 0 ? proxy.label(name) : spec.substring(eq + 1);
    if (l.label(name) != want) return n - j;
  }
  return 0;
}

/** Matches "region/zone/subzone" patterns: "*" (or an empty zone/subzone) matches anything. */
export function localityMatches(pattern: string, l: Locality): bool {
  const region = field(pattern, SLASH, 0)!;
  const zone = field(pattern, SLASH, 1);
  const subzone = field(pattern, SLASH, 2);
  if (region != "*" && region != l.region) return false;
  if (zone !== null && zone != "*" && zone != "" && zone != l.zone) return false;
  if (subzone !== null && subzone != "*" && subzone != "" && subzone != l.subzone) return false;
  return true;
}

function firstDistribute(rules: Array<DistributeRule>, proxy: Locality): i32 {
  for (let i = 0; i < rules.length; i++) if (localityMatches(rules[i].from, proxy)) return i;
  return -1;
}

/**
 * Istio's applyLocalityWeights: each target pattern's weight is shared among the clusters it
 * claims first, in proportion to their own weights (rounded up); unclaimed clusters get 0.
 */
function applyDistribute(p: Policy, route: RouteSpec, rule: DistributeRule, weight: Array<i32>): void {
  const n = route.clusters.length;
  const claimed = new Array<bool>(n);
  const next = new Array<i32>(n);
  for (let i = 0; i < n; i++) { claimed[i] = false; next[i] = 0; }
  for (let t = 0; t < rule.to.length; t++) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      if (!claimed[i] && localityMatches(rule.to[t], clusterOf(p, route, i).locality)) sum += weight[i];
    }
    if (sum == 0) continue;
    for (let i = 0; i < n; i++) {
      if (claimed[i] || !localityMatches(rule.to[t], clusterOf(p, route, i).locality)) continue;
      claimed[i] = true;
      next[i] = <i32>Math.ceil(<f64>weight[i] * <f64>rule.weights[t] / <f64>sum);
    }
  }
  for (let i = 0; i < n; i++) weight[i] = next[i];
}

function clusterOf(p: Policy, route: RouteSpec, i: i32): ClusterSpec {
  return p.clusters[route.clusters[i]];
}
