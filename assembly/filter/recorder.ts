// What a stream reports back: its decision (metrics), its attempts (the route's retry budget)
// and each attempt's outcome (the cluster's shared health). An outcome that ejects or re-admits
// a cluster, or ejects one of its endpoints, re-plans at once, so this worker's next request
// already follows it.

import { incrementMetric } from "../abi";
import { HealthChange } from "../plan/health";
import { RoutePlan } from "../plan/route-plan";
import { PlanRunner } from "../plan/runner";
import { Outcome } from "../health/record";
import { Mode, Policy } from "../policy/model";
import { RetryBudget } from "./budget";
import { EJECTIONS, FAILOVERS, FAILURES_5XX, FAILURES_GATEWAY, FAILURES_LOCAL, Metrics, PROBES, REQUESTS } from "./metrics";

export class OutcomeRecorder {
  // Set by configure, before any stream exists (no placeholder objects: they cost module bytes).
  policy: Policy = changetype<Policy>(0);
  private metrics: Metrics = changetype<Metrics>(0);
  private budgets: Array<RetryBudget> = [];

  constructor(private runner: PlanRunner) {}

  configure(p: Policy, metrics: Metrics): void {
    this.policy = p;
    this.metrics = metrics;
    this.budgets = [];
    for (let r = 0; r < p.routes.length; r++) this.budgets.push(new RetryBudget(p.routes[r].retry));
  }

  /** A request arrived (routed or not). */
  decided(): void { incrementMetric(this.metrics.decisions, 1); }
  /** A request matched no route. */
  unrouted(): void { incrementMetric(this.metrics.noRoute, 1); }

  /** A request was sent to candidate `i` of `plan`. */
  chose(plan: RoutePlan, i: i32): void {
    const m = this.metrics.clusters[plan.spec.clusters[i]];
    incrementMetric(m[REQUESTS], 1);
    if (plan.split.probe[i]) incrementMetric(m[PROBES], 1);
    else if (plan.spec.mode != Mode.Weighted && plan.prio.level[i] > 0) incrementMetric(m[FAILOVERS], 1);
  }

  /** Are retries over budget on this route (counted, when they are)? */
  retriesExhausted(plan: RoutePlan, nowMs: i64): bool {
    const exhausted = this.budgets[plan.spec.index].exhausted(nowMs, this.policy.health.windowMs);
    if (exhausted) incrementMetric(this.metrics.budgetExhausted[plan.spec.index], 1);
    return exhausted;
  }

  /** A request of `plan` ended after `attempts` attempts. */
  attempts(plan: RoutePlan, attempts: i64, nowMs: i64): void {
    this.budgets[plan.spec.index].note(attempts, nowMs, this.policy.health.windowMs);
  }

  /** One attempt's outcome for inventory cluster `cluster` (of the current policy), at endpoint `hash` (0: unknown). */
  outcome(cluster: i32, outcome: Outcome, latencyMs: f64, nowMs: i64, source: u32, hash: u32): void {
    const m = this.metrics.clusters[cluster];
    // Every 5xx counts in failures_5xx, as in Envoy's upstream_rq_5xx; gateway errors are a subset.
    if (outcome == Outcome.Http5xx || outcome == Outcome.Gateway5xx) incrementMetric(m[FAILURES_5XX], 1);
    if (outcome == Outcome.Gateway5xx) incrementMetric(m[FAILURES_GATEWAY], 1);
    else if (outcome > Outcome.Gateway5xx) incrementMetric(m[FAILURES_LOCAL], 1);
    const change = this.runner.health.add(cluster, outcome, latencyMs, nowMs, this.policy.health, source, hash);
    if (change == HealthChange.Ejected) incrementMetric(m[EJECTIONS], 1);
    if (change != HealthChange.None) this.runner.refresh(nowMs);
  }
}
