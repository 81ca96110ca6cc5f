// The policy as the filter uses it: typed, validated, with names resolved to indices.

import { DEFAULT_ROUTING_HEADER } from "../shared";

export class Locality {
  region: string = "";
  zone: string = "";
  subzone: string = "";
  cluster: string = "";
  labels: Map<string, string> = new Map();

  /** A locality label by Istio's names (or the short ones); "" when unset. */
  label(name: string): string {
    if (name == "region" || name == "topology.kubernetes.io/region") return this.region;
    if (name == "zone" || name == "topology.kubernetes.io/zone") return this.zone;
    if (name == "subzone" || name == "topology.istio.io/subzone") return this.subzone;
    if (name == "cluster" || name == "topology.istio.io/cluster") return this.cluster;
    return this.labels.has(name) ? this.labels.get(name) : "";
  }

  describe(): string {
    return this.region + "/" + this.zone + "/" + this.subzone + (this.cluster.length > 0 ? " (" + this.cluster + ")" : "");
  }
}

export class ClusterSpec {
  index: i32 = 0;
  name: string = "";
  locality: Locality = new Locality();
  hosts: Array<string> = [];
  /** Endpoints behind this Envoy cluster: the host count in Envoy's priority arithmetic. */
  endpoints: i32 = 1;
  /** Locality weight inside a priority (Istio: the endpoint count). */
  weight: i32 = 1;
  /** Assumed health (what-if planning, or a drain), or null: measured. */
  assume: Assume | null = null;
}

export class AggregateSpec {
  name: string = "";
  clusters: Array<i32> = [];
}

export enum Mode { Auto, Named, Weighted }

export class RetrySpec {
  retryOn: string = "";
  numRetries: i32 = -1; // -1: leave Envoy's default
  perTryTimeoutMs: f64 = 0;
  retriableStatusCodes: string = "";
  acrossClusters: bool = false;
  budgetPercent: f64 = 0; // 0: no budget
  budgetMinRetries: i32 = 3;
}

export enum AffinityKind { None, Header, Cookie, SourceIp }

export class AffinitySpec {
  kind: AffinityKind = AffinityKind.None;
  header: string = "";
  cookieName: string = "";
  cookieTtlS: i64 = 0;
  cookiePath: string = "/";
  /** HMAC keys for the cookie: the secret first, then previous secrets still accepted; none: the proxy's own. */
  cookieKeys: Array<StaticArray<u8>> = [];
}

export class FailoverRule {
  from: string = "";
  to: string = "";
}

export class DistributeRule {
  from: string = "";
  to: Array<string> = [];
  weights: Array<i32> = [];
}

export class RouteSpec {
  index: i32 = 0;
  name: string = "";
  /** Exact host, "*.suffix", or "*" (any). Compared without port, case-insensitively. */
  authority: string = "*";
  pathPrefix: string = "";
  mode: Mode = Mode.Auto;
  /** Candidate clusters (inventory indices). */
  clusters: Array<i32> = [];
  /** Weighted mode: one weight per candidate. */
  weights: Array<i32> = [];
  failoverPriority: Array<string> = [];
  failover: Array<FailoverRule> = [];
  distribute: Array<DistributeRule> = [];
  retry: RetrySpec | null = null;
  affinity: AffinitySpec = new AffinitySpec();
}

export class OutlierSpec {
  consecutive5xx: i32 = 5;
  consecutiveGatewayErrors: i32 = 0; // 0: not enforced (Envoy's default)
  consecutiveLocalOriginFailures: i32 = 5;
  splitExternalLocalOriginErrors: bool = false;
  intervalMs: f64 = 10000;
  baseEjectionMs: f64 = 30000;
  maxEjectionMs: f64 = 300000;
  maxEjectionPercent: i32 = 100;
  /** Distinct failing sources (downstream addresses) an interval needs before failures count. */
  minSources: i32 = 1;
}

export class HealthSpec {
  /** Envoy's overprovisioning factor as an integer percent (1.4 -> 140). */
  overprovisioning: i32 = 140;
  panicThreshold: f64 = 50;
  refreshMs: u32 = 250;
  windowMs: f64 = 10000;
  minRequests: i32 = 5;
  latencyWeight: f64 = 0.5;
  latencyTolerance: f64 = 2;
  slowStartMs: f64 = 30000;
  probePercent: f64 = 1;
  probeSuccesses: i32 = 3;
  hysteresis: f64 = 5;
  outlier: OutlierSpec = new OutlierSpec();
}

export enum AssumeKind { Counts, Score, Ejected }

export class Assume {
  kind: AssumeKind = AssumeKind.Score;
  healthy: f64 = 0;
  total: i32 = 0;
  score: f64 = 100;
}

export class Policy {
  routingHeader: string = DEFAULT_ROUTING_HEADER;
  explainResponse: bool = false;
  seed: u64 = 0;
  hasSeed: bool = false;
  /** Locality fields the document sets; the rest come from Envoy's node. */
  locality: Locality = new Locality();
  localitySet: Array<string> = [];
  clusters: Array<ClusterSpec> = [];
  aggregates: Array<AggregateSpec> = [];
  routes: Array<RouteSpec> = [];
  health: HealthSpec = new HealthSpec();

  clusterIndex(name: string): i32 {
    for (let i = 0; i < this.clusters.length; i++) if (this.clusters[i].name == name) return i;
    return -1;
  }
}
