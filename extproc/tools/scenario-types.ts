// The scenario's cases as the tools take them: what `failover plan` and `failover simulate` run.
// Read from a scenario file by scenario.ts; the format is documented in scenarios/README.md.

import type { PathSegment } from "../module/policy-file.js";
import type { LbPolicy } from "./simulate/balancer.js";
import type { OutlierConfig } from "./simulate/outlier.js";

export interface RequestSpec {
  method: string;
  authority: string;
  path: string;
  headers: [string, string][];
}

export type DownMode = "no-healthy-upstream" | "connect-refused" | "http-503";
export const DOWN_MODES: readonly DownMode[] = ["no-healthy-upstream", "connect-refused", "http-503"];

/** A change to one upstream cluster's behaviour at a point in simulated time. */
export type UpstreamEvent = { atMs: number; cluster: string; note?: string } & (
  | { kind: "down"; mode: DownMode }
  | { kind: "errorRate"; rate: number }
  | { kind: "latency"; latencyMs: number }
  | { kind: "recover" }
);

export interface Traffic {
  /** Requests per second. */
  rate: number;
  durationMs: number;
  /** Width of one timeline row. */
  intervalMs: number;
  /** Distinct client addresses the requests come from (source.address), round robin. */
  clients: number;
}


export interface CaseCommon {
  scenario: string;
  name: string;
  description: string;
  /** The plugin configuration for the module: the policy with the scenario's locality and assume. */
  config: Record<string, unknown>;
  /** The request header the Envoy route reads the cluster from (`cluster_header`). */
  routingHeader: string;
  /** Inventory cluster names, in policy order. */
  clusters: string[];
  /** Envoy aggregate clusters: name -> children in order. */
  aggregates: Map<string, string[]>;
  requests: RequestSpec[];
  /** `file:line:column` where the member at `path` of `config` is written. */
  where(path: readonly PathSegment[]): string;
}

export type PlanCase = CaseCommon;

/** Envoy's own side of one inventory cluster: its endpoints, load balancer and outlier detection. */
export interface EnvoyClusterSpec {
  /** How many endpoints (hosts) the cluster has: the scenario's value, else the policy's `endpoints`, else 1. */
  endpoints: number;
  lbPolicy: LbPolicy;
  /** common_lb_config.healthy_panic_threshold, percent (Envoy's default 50; Istio sets minHealthPercent). */
  healthyPanicThreshold: number;
  /** cluster.outlier_detection; undefined: the cluster has none (Envoy's default). */
  outlierDetection: OutlierConfig | undefined;
}

export interface SimulateCase extends CaseCommon {
  traffic: Traffic;
  /** Base latency per inventory cluster (every inventory cluster has an entry). */
  latencyMs: Map<string, number>;
  events: UpstreamEvent[];
  /** Envoy's retry circuit breaker (`max_retries`, concurrent retries per cluster). */
  maxConcurrentRetries: number;
  /** Envoy's side of each inventory cluster (every inventory cluster has an entry). */
  envoyClusters: Map<string, EnvoyClusterSpec>;
}

export interface Scenario {
  file: string;
  description: string;
  plan: PlanCase[];
  simulate: SimulateCase[];
}
