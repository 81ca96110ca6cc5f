// Chains the decision's stages on every refresh (each tick, and at once when a cluster is
// ejected or re-admitted): priorities (fixed per policy) -> health view -> split, one RoutePlan
// per route, handed to the picker as one new PlanSet; then the plan is published. Picking
// (stage 4) happens per request on the plans the picker holds.

import { LogLevel, log, recordMetric, setSharedData } from "../abi";
import { EJECTED, Metrics, SCORE } from "../filter/metrics";
import { Locality, Policy } from "../policy/model";
import { HealthView } from "./health";
import { RoutePriorities, routePriorities } from "./priorities";
import { planJson } from "./publish";
import { Picker } from "./pick";
import { PlanSet, RoutePlan } from "./route-plan";
import { splitRoute } from "./split";

export class PlanRunner {
  health: HealthView = new HealthView();
  // Set by configure, before the first refresh (no placeholder objects: they cost module bytes).
  private policy: Policy = changetype<Policy>(0);
  private proxy: Locality = changetype<Locality>(0);
  private priorities: Array<RoutePriorities> = [];
  private metrics: Metrics = changetype<Metrics>(0);
  private planKey: string = "";
  private generation: u32 = 0;

  constructor(private picker: Picker, private ownKey: Array<StaticArray<u8>>) {}

  /** Takes a new policy: stage 1 for every route, and a fresh health view. */
  configure(p: Policy, proxy: Locality, planKey: string, metrics: Metrics): void {
    this.policy = p;
    this.proxy = proxy;
    this.planKey = planKey;
    this.metrics = metrics;
    this.health.configure(p);
    this.priorities = [];
    for (let r = 0; r < p.routes.length; r++) {
      const spec = p.routes[r];
      const prio = routePriorities(p, spec, proxy);
      if (prio.distributeClaimedNothing) log(LogLevel.Warn, "failover: route " + spec.name + ": distribute claims none of its clusters; locality order used");
      this.priorities.push(prio);
    }
  }

  /** Re-reads every cluster's health, re-plans every route, posts and publishes the plans. */
  refresh(nowMs: i64): void {
    const p = this.policy;
    const metrics = this.metrics;
    const view = this.health;
    view.refresh(nowMs, p.health);
    const clusters = view.clusters;
    for (let i = 0; i < clusters.length; i++) {
      recordMetric(metrics.clusters[i][SCORE], <u64>Math.round(clusters[i].score));
      recordMetric(metrics.clusters[i][EJECTED], clusters[i].ejected ? 1 : 0);
    }
    const plans = new Array<RoutePlan>();
    for (let r = 0; r < p.routes.length; r++) {
      const spec = p.routes[r];
      const prio = this.priorities[r];
      const split = splitRoute(spec, prio, clusters, p.health);
      const share = metrics.routeShares[r];
      for (let i = 0; i < split.bp.length; i++) recordMetric(share[i], <u64>(split.bp[i] / 100));
      plans.push(new RoutePlan(spec, prio, split, clusters, this.ownKey));
    }
    const set = new PlanSet(p, plans);
    this.picker.plans = set;
    this.generation++;
    setSharedData(this.planKey, planJson(set, clusters, this.proxy, this.generation, nowMs));
  }
}
