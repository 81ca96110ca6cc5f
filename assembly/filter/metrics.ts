// The filter's metrics (docs/interface.md lists them), defined once per policy: ids per cluster,
// per route, and for the whole filter.

import { MetricType, defineMetric } from "../abi";
import { Policy } from "../policy/model";

// Each cluster's metrics, "failover.cluster.<name>.<metric>": counters, then gauges from SCORE.
const CLUSTER_METRICS = [
  "requests_total", "failures_5xx_total", "failures_gateway_total", "failures_local_origin_total",
  "ejections_total", "failovers_total", "probes_total", "score", "ejected",
];
export const REQUESTS = 0, FAILURES_5XX = 1, FAILURES_GATEWAY = 2, FAILURES_LOCAL = 3, EJECTIONS = 4,
  FAILOVERS = 5, PROBES = 6, SCORE = 7, EJECTED = 8;

export class Metrics {
  /** Per cluster: its metric ids, indexed by REQUESTS ... EJECTED. */
  clusters: Array<StaticArray<u32>> = [];
  /** Per route: the share gauge of each candidate, and the retry-budget counter. */
  routeShares: Array<Array<u32>> = [];
  budgetExhausted: Array<u32> = [];
  decisions: u32 = 0;
  noRoute: u32 = 0;

  /** Defines every metric of the policy, in the order the filter always defined them. */
  constructor(p: Policy) {
    for (let c = 0; c < p.clusters.length; c++) {
      const base = "failover.cluster." + p.clusters[c].name + ".";
      const ids = new StaticArray<u32>(CLUSTER_METRICS.length);
      for (let m = 0; m < CLUSTER_METRICS.length; m++) {
        ids[m] = defineMetric(m < SCORE ? MetricType.Counter : MetricType.Gauge, base + CLUSTER_METRICS[m]);
      }
      this.clusters.push(ids);
    }
    for (let r = 0; r < p.routes.length; r++) {
      const spec = p.routes[r];
      const shares = new Array<u32>();
      for (let i = 0; i < spec.clusters.length; i++) {
        shares.push(defineMetric(MetricType.Gauge, "failover.route." + spec.name + ".cluster." + p.clusters[spec.clusters[i]].name + ".share_percent"));
      }
      this.routeShares.push(shares);
      this.budgetExhausted.push(defineMetric(MetricType.Counter, "failover.route." + spec.name + ".retry_budget_exhausted_total"));
    }
    this.noRoute = defineMetric(MetricType.Counter, "failover.no_route_total");
    this.decisions = defineMetric(MetricType.Counter, "failover.decisions_total");
  }
}
