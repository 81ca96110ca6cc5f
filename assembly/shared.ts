// What the module and the TypeScript side (host, sidecar, tools) must agree on, each defined once
// for the module. A test reads this file and compares it with the TypeScript side: keep every
// entry a plain `export const NAME = literal` (docs/interface.md describes each).

/** The request header the route's `cluster_header` reads, unless the policy names another. */
export const DEFAULT_ROUTING_HEADER = "x-failover-upstream";

/** Shared-data key of the published plan; a plugin with a root_id publishes under KEY.<root_id>. */
export const PLAN_KEY = "failover.plan";

// The explanation headers the filter owns (a client's copies are always removed), in this order:
// cluster, priority, reason, score, decision.
export const EXPLANATION_HEADERS = ["x-failover-cluster", "x-failover-priority", "x-failover-reason", "x-failover-score", "x-failover-decision"];

// The retry headers the filter owns: those a route's policy sets, in this order (retry-on, max
// retries, per-try timeout, retriable status codes), then the one it never sets.
export const RETRY_HEADERS = ["x-envoy-retry-on", "x-envoy-max-retries", "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-retriable-status-codes", "x-envoy-retry-grpc-on"];

// Envoy's legacy response flags (the `response.flags` property), the bits the filter reads.
export const FLAG_UH: i64 = 0x2; // no healthy upstream
export const FLAG_UT: i64 = 0x4; // upstream request timeout
export const FLAG_LR: i64 = 0x8; // local reset
export const FLAG_UR: i64 = 0x10; // upstream remote reset
export const FLAG_UF: i64 = 0x20; // upstream connection failure
export const FLAG_UC: i64 = 0x40; // upstream connection termination
export const FLAG_UO: i64 = 0x80; // upstream overflow (circuit breaker): not the cluster's fault
export const FLAG_DC: i64 = 0x4000; // downstream connection termination
export const FLAG_DPE: i64 = 0x40000; // downstream protocol error
export const FLAG_DR: i64 = 0x10000000; // downstream remote reset

// The published plan's members (plan/publish.ts writes them; a test checks a real plan's keys).
// @lazy: only the test reads these, so they cost the module nothing.
// @ts-ignore: decorator
@lazy export const PLAN_FIELDS = "generation,timeMs,locality,routes,clusters";
// @ts-ignore: decorator
@lazy export const PLAN_LOCALITY_FIELDS = "region,zone,subzone,cluster";
// @ts-ignore: decorator
@lazy export const PLAN_ROUTE_FIELDS = "name,mode,panic,affinity,priorities,split,clusters";
// @ts-ignore: decorator
@lazy export const PLAN_PRIORITY_FIELDS = "priority,health,load,panic,clusters";
// @ts-ignore: decorator
@lazy export const PLAN_ROUTE_CLUSTER_FIELDS = "name,priority,share,score,ejected,reason,via";
// @ts-ignore: decorator
@lazy export const PLAN_CLUSTER_FIELDS = "name,score,ejected,ejections,requests,failures,latencyMs,baselineMs,assumed,healthFrom,endpoints,ejectedEndpoints";
