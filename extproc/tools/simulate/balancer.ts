// Envoy's choice of a host inside one cluster (one priority, equal weights, no locality routing):
// the round-robin or random load balancer over the healthy hosts, or over all hosts when the
// cluster is in panic. A host ejected by outlier detection is not healthy (FAILED_OUTLIER_CHECK).
//
// envoyproxy/envoy source/extensions/load_balancing_policies/common/load_balancer_impl.cc @
// e01a970ac688b05de9f57591a17d23f493e3969b (recalculatePerPriorityState, recalculatePerPriorityPanic,
// isHostSetInPanic, hostSourceToUse, EdfLoadBalancerBase::chooseHostOnce),
// round_robin/round_robin_lb.h @ 12ca3fdb052c91ad4535cafb4a8adf3aaf06cdd0 (unweightedHostPick),
// random/random_lb.cc @ a19aa5407700cf1d7e3ae209a71d63fccaa4a0b3 (peekOrChoose).

import type { Random } from "./random.js";

export type LbPolicy = "ROUND_ROBIN" | "RANDOM";
export const LB_POLICIES: readonly LbPolicy[] = ["ROUND_ROBIN", "RANDOM"];

/** Envoy's overprovisioning factor, 1.4 (as the integer 140 it multiplies with). */
const OVERPROVISIONING = 140;

/** The priority's health: min(100, 140 x healthy / hosts), in integer arithmetic. */
export function priorityHealth(healthy: number, hosts: number): number {
  return hosts === 0 ? 0 : Math.min(100, Math.floor((OVERPROVISIONING * healthy) / hosts));
}

/**
 * Whether the one priority is in panic: never when its health is 100 (recalculatePerPriorityPanic),
 * never with a threshold of 0 and nothing healthy (the corner case that leaves P0 with 100% and no
 * host to pick), else when the healthy percentage is below the panic threshold (isHostSetInPanic).
 */
export function inPanic(healthy: number, hosts: number, panicThreshold: number): boolean {
  const health = priorityHealth(healthy, hosts);
  const threshold = Math.min(100, panicThreshold);
  if (threshold === 0 && health === 0) return false;
  if (health === 100) return false;
  const healthyPercent = hosts === 0 ? 0 : (100 * healthy) / hosts;
  return healthyPercent < threshold;
}

export class HostBalancer {
  /** Round robin keeps one index per host source (all hosts, healthy hosts), seeded once at random. */
  private readonly rr: { all: number; healthy: number };

  constructor(private readonly policy: LbPolicy, private readonly random: Random) {
    const seed = random.below(2 ** 31);
    this.rr = { all: seed, healthy: seed };
  }

  /**
   * The host index for one attempt, or undefined when there is none to pick (no hosts, or none
   * healthy and no panic): the router then answers "no healthy upstream".
   */
  pick(hostCount: number, isHealthy: (host: number) => boolean, panicThreshold: number): number | undefined {
    const healthy: number[] = [];
    for (let h = 0; h < hostCount; h++) if (isHealthy(h)) healthy.push(h);
    const panic = inPanic(healthy.length, hostCount, panicThreshold);
    const source = panic ? "all" : "healthy";
    const hosts = panic ? Array.from({ length: hostCount }, (_, h) => h) : healthy;
    if (hosts.length === 0) return undefined;
    if (this.policy === "RANDOM") return hosts[this.random.below(2 ** 31) % hosts.length];
    return hosts[this.rr[source]++ % hosts.length];
  }
}
