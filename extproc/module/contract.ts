// What the TypeScript side and the AssemblyScript module must agree on, in one place: the
// module's file name, its default routing header, the headers it owns, the shared-data key and
// shape of the plan it publishes, and Envoy's response-flag bits it reads. The tools, the sidecar
// and the Envoy config work import these; test/contract.test.ts checks each against the module
// (its behaviour, or its source where behaviour cannot show a value), so one side cannot change alone.

/** The build output the filter configs point at. */
export const MODULE_FILE_NAME = "failover.wasm";

/** The header the module writes its choice into when a policy names no routingHeader. */
export const DEFAULT_ROUTING_HEADER = "x-failover-upstream";

/** The module's explanation of a choice, set on the request (docs/interface.md). */
export const EXPLANATION_HEADERS = ["x-failover-cluster", "x-failover-priority", "x-failover-reason", "x-failover-score", "x-failover-decision"] as const;

/** Envoy's retry and timeout request headers, which the module sets from the route's policy. */
export const RETRY_HEADERS = ["x-envoy-retry-on", "x-envoy-max-retries", "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-retriable-status-codes", "x-envoy-retry-grpc-on"] as const;

/** Every request header the module owns under a policy: a client's value never reaches the router. */
export function ownedHeaders(routingHeader: string = DEFAULT_ROUTING_HEADER): string[] {
  return [routingHeader.toLowerCase(), ...EXPLANATION_HEADERS, ...RETRY_HEADERS].sort();
}

/** The shared-data key the module publishes its plan under (docs/interface.md). */
export const PLAN_KEY = "failover.plan";

/** The key of the plan a root context publishes: a plugin root_id other than "" gets its own. */
export function planKey(rootId = ""): string {
  return rootId ? `${PLAN_KEY}.${rootId}` : PLAN_KEY;
}

/** Envoy's legacy response flag bits (response.flags; envoy/stream_info/stream_info.h, test/data/ENVOY-HOST-NOTES.md §6). */
export const ResponseFlag = {
  UH: 0x2, // no healthy upstream
  UT: 0x4, // upstream request timeout
  LR: 0x8, // local reset
  UR: 0x10, // upstream remote reset
  UF: 0x20, // upstream connection failure
  UC: 0x40, // upstream connection termination
  UO: 0x80, // upstream overflow (circuit breaker)
  DC: 0x4000, // downstream connection termination
  URX: 0x8000, // upstream retry limit exceeded
  DPE: 0x40000, // downstream protocol error
  NC: 0x1000000, // no cluster found
  DR: 0x10000000, // downstream remote reset
} as const;

// --- the published plan, as docs/interface.md specifies it --------------------------------------

export interface PlanPriority { priority: number; health: number; load: number; panic: boolean; clusters: string[] }
export interface PlanRouteCluster {
  name: string; priority: number; share: number; score: number; ejected: boolean; reason: string;
  /** The aggregate cluster the routing header names for this choice (retries across clusters). */
  via?: string;
}
export interface PlanRoute {
  name: string;
  mode: string;
  panic: boolean;
  affinity: string;
  priorities: PlanPriority[];
  split: Record<string, number>;
  clusters: PlanRouteCluster[];
}
export interface PlanCluster {
  name: string; score: number; ejected: boolean; ejections: number; requests: number; failures: number;
  latencyMs: number; baselineMs: number; assumed: boolean;
  /**
   * Where the healthy share comes from (issue 15): "endpoints" (Envoy names each attempt's
   * endpoint, upstream.address), "success-rate" (it does not: older Envoy, or a sidecar peer that
   * does not send it), "assumed" (the policy's `assume`).
   */
  healthFrom: "endpoints" | "success-rate" | "assumed";
  /** With health from endpoints: the cluster's endpoint count (the policy's, or those seen when more) and how many are ejected. */
  endpoints?: number;
  ejectedEndpoints?: number;
}
export interface PublishedPlan {
  generation: number;
  timeMs: number;
  locality: { region: string; zone: string; subzone: string; cluster: string };
  routes: PlanRoute[];
  clusters: PlanCluster[];
}

/** The members of each object of a published plan, for a check against what the module writes. */
export const PLAN_FIELDS = {
  plan: fields<PublishedPlan>({ generation: 1, timeMs: 1, locality: 1, routes: 1, clusters: 1 }),
  locality: fields<PublishedPlan["locality"]>({ region: 1, zone: 1, subzone: 1, cluster: 1 }),
  route: fields<PlanRoute>({ name: 1, mode: 1, panic: 1, affinity: 1, priorities: 1, split: 1, clusters: 1 }),
  priority: fields<PlanPriority>({ priority: 1, health: 1, load: 1, panic: 1, clusters: 1 }),
  routeCluster: fields<PlanRouteCluster>({ name: 1, priority: 1, share: 1, score: 1, ejected: 1, reason: 1, via: 1 }),
  cluster: fields<PlanCluster>({ name: 1, score: 1, ejected: 1, ejections: 1, requests: 1, failures: 1, latencyMs: 1, baselineMs: 1, assumed: 1, healthFrom: 1, endpoints: 1, ejectedEndpoints: 1 }),
};
/** Members a plan may leave out. */
export const OPTIONAL_PLAN_FIELDS: readonly string[] = ["via", "endpoints", "ejectedEndpoints"];

// Record<keyof T, 1>: the compiler makes each list name every member of its interface, and no other.
function fields<T>(members: Record<keyof T, 1>): string[] {
  return Object.keys(members);
}

/** Decodes a published plan from its shared-data value. */
export function decodePlan(value: Uint8Array): PublishedPlan {
  return JSON.parse(new TextDecoder().decode(value)) as PublishedPlan;
}
