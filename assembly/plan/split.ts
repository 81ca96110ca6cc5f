// Envoy's priority arithmetic (load_balancer_impl.cc: recalculatePerPriorityState,
// recalculatePerPriorityPanic, recalculateLoadInTotalPanic) and locality-weighted shares inside a
// priority (upstream_impl.cc: effectiveLocalityWeight), applied to clusters: each candidate
// cluster is a locality with `total` hosts of which `healthy` are healthy.
// All per-priority numbers are Envoy's integer percentages; the rounding remainder goes to the
// first priority with health (or with hosts, in total panic), exactly as Envoy does.

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
