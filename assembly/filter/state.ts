// What the root context keeps per cluster and per route between refreshes. Everything a request
// needs (split, cumulative points, explanation strings) is computed here at refresh time, so the
// request path only picks a number and copies prepared strings.

import { RoutePriorities } from "../plan/priorities";
import { PriorityLoad } from "../plan/split";
import { ClusterSpec, RouteSpec } from "../policy/model";

export class ClusterState {
  spec: ClusterSpec;
  /** Shared-data key of the health record. */
  key: string;
  score: f64 = 100;
  ejected: bool = false;
  assumed: bool = false;
  /** Healthy hosts for Envoy's arithmetic (fractional when it comes from a score). */
  healthy: f64 = 0;
  total: f64 = 1;
  ejections: u32 = 0;
  requests: u32 = 0;
  failures: u32 = 0;
  latencyMs: f64 = 0;
  baselineMs: f64 = 0;
  // metric ids
  mRequests: u32 = 0;
  m5xx: u32 = 0;
  mGateway: u32 = 0;
  mLocal: u32 = 0;
  mEjections: u32 = 0;
  mFailovers: u32 = 0;
  mProbes: u32 = 0;
  mScore: u32 = 0;
  mEjected: u32 = 0;

  constructor(spec: ClusterSpec) {
    this.spec = spec;
    this.key = "failover.health." + spec.name;
    this.total = <f64>spec.endpoints;
    this.healthy = this.total;
  }
}

export class RouteState {
  spec: RouteSpec;
  prio: RoutePriorities;
  load: PriorityLoad = new PriorityLoad();
  /** Per candidate: share in basis points (sum 10000), cumulative points, and prepared text. */
  bp: Array<i32>;
  cumulative: Array<i32>;
  shares: Array<f64>;
  reason: Array<string>;
  probe: Array<bool>;
  decision: Array<string>;
  /** The split as the decision header ends with it ("c1:100.00,c2:0.00"). */
  split: string = "";
  priorityText: Array<string>;
  scoreText: Array<string>;
  /** Aggregate (index into policy.aggregates) to name instead of the cluster, or -1. */
  aggregate: Array<i32>;
  /** Share gauges per candidate. */
  mShare: Array<u32> = [];
  // Retry budget: two half-window buckets of requests and retries (this worker's view).
  budgetEpoch: i64 = 0;
  budgetRequests: StaticArray<u32> = new StaticArray<u32>(2);
  budgetRetries: StaticArray<u32> = new StaticArray<u32>(2);
  mBudgetExhausted: u32 = 0;

  constructor(spec: RouteSpec, prio: RoutePriorities) {
    this.spec = spec;
    this.prio = prio;
    const n = spec.clusters.length;
    this.bp = new Array<i32>(n);
    this.cumulative = new Array<i32>(n);
    this.shares = new Array<f64>(n);
    this.probe = new Array<bool>(n);
    this.aggregate = new Array<i32>(n).fill(-1);
    this.reason = new Array<string>(n).fill("");
    this.decision = new Array<string>(n).fill("");
    this.priorityText = new Array<string>(n).fill("0");
    this.scoreText = new Array<string>(n).fill("100");
  }
}
