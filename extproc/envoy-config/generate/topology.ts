// The one description of the three proxy roles of the source documents, from which generate.ts
// renders every file under envoy/: the Envoy bootstraps, the failover policies, and the Istio,
// Envoy Gateway and Kubernetes resources. Change a role here, regenerate, and the files change
// together (a test fails while the committed files and this description disagree).
//
// Upstream addresses are placeholders for the reader's own gateways and services.

import { DEFAULT_ROUTING_HEADER } from "../../module/contract.js";

/** The header the filter writes the chosen Envoy cluster into, and the routes read. */
export const ROUTING_HEADER = DEFAULT_ROUTING_HEADER;

export interface Upstream {
  /** The Envoy cluster, and the policy's inventory name for it. */
  readonly name: string;
  readonly region?: string;
  readonly zone?: string;
  /** Istio's cluster id (topology.istio.io/cluster), for failoverPriority by cluster. */
  readonly cluster?: string;
  readonly address: string;
  readonly port: number;
  /** Endpoints behind the cluster: the host count in Envoy's priority arithmetic. */
  readonly endpoints?: number;
  /** In Kubernetes: the DestinationRule subset, and the endpoint labels that make it. */
  readonly subset?: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  /** In Envoy Gateway: a Service holding only this upstream's endpoints. */
  readonly service?: string;
}

export interface Outlier {
  readonly consecutive5xx?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly intervalSeconds: number;
  readonly baseEjectionSeconds: number;
  readonly maxEjectionPercent: number;
  /** Istio's minHealthPercent: Envoy's panic threshold (and the filter's). */
  readonly minHealthPercent?: number;
}

export interface Role {
  readonly name: "edge" | "ingress" | "waypoint";
  /** Which source document, and what of it this role reproduces. */
  readonly about: string;
  readonly node: { readonly id: string; readonly cluster: string; readonly region?: string; readonly zone?: string; readonly clusterId: string };
  /** The policy route: its name, the host it serves ("*": any) and a path prefix. */
  readonly route: { readonly name: string; readonly authority: string; readonly pathPrefix?: string };
  readonly mode: "auto" | "named";
  readonly failoverPriority?: readonly string[];
  readonly upstreams: readonly Upstream[];
  readonly outlier: Outlier;
  /** An active HTTP health check on every endpoint (path, port), where the seed has one. */
  readonly healthCheck?: { readonly path: string; readonly port: number };
  readonly retry: {
    readonly retryOn: string; readonly numRetries: number; readonly perTryTimeoutSeconds: number;
    /** The filter's retry budget (policy retry.budget): retries in flight <= max(minRetries, percent of requests). */
    readonly budget: { readonly percent: number; readonly minRetries: number };
    /**
     * The requests in flight this proxy is sized for: the aggregates' Envoy-side retry cap is the
     * budget at that load (retryConcurrency), since Envoy cannot count an aggregate's requests.
     */
    readonly designConcurrency: number;
  };
  /** The service in Kubernetes (Istio and Envoy Gateway resources), where the role lives there. */
  readonly kubernetes?: { readonly namespace: string; readonly host: string; readonly service: string; readonly port: number };
}

export const EDGE: Role = {
  name: "edge",
  about: "seed 000: an edge gateway in region-1 in front of the ingress gateways of two workload clusters (cluster-1 in region-1, cluster-2 in region-2) serving BookInfo",
  node: { id: "edge-gateway-0", cluster: "edge-gateway", region: "region-1", clusterId: "edge" },
  route: { name: "bookinfo", authority: "bookinfo.example.com" },
  mode: "auto",
  upstreams: [
    { name: "cluster-1", region: "region-1", address: "ingressgateway.cluster-1.example.internal", port: 80 },
    { name: "cluster-2", region: "region-2", address: "ingressgateway.cluster-2.example.internal", port: 80 },
  ],
  // The seed's health comes from outlier detection on the ingress gateways; the readiness port of
  // an Istio ingress gateway (15021) also tells a scaled-to-zero or broken gateway early.
  outlier: { consecutive5xx: 5, consecutiveGatewayErrors: 3, intervalSeconds: 5, baseEjectionSeconds: 30, maxEjectionPercent: 100 },
  healthCheck: { path: "/healthz/ready", port: 15021 },
  // "Envoy retries the request against the other cluster".
  retry: { retryOn: "5xx", numRetries: 1, perTryTimeoutSeconds: 5, budget: { percent: 20, minRetries: 3 }, designConcurrency: 80 },
};

export const INGRESS: Role = {
  name: "ingress",
  about: "seed 003: an Istio ingress gateway in Shanghai zone 1 sending /user to the user service, 14 endpoints in each of two zones, failing over by health with Envoy's overprovisioning factor 1.4",
  node: { id: "ingressgateway-0", cluster: "istio-ingressgateway", region: "sh", zone: "2000400001", clusterId: "tke-sh-zone1" },
  route: { name: "user", authority: "*", pathPrefix: "/user" },
  mode: "named",
  upstreams: [
    {
      name: "user-zone1", region: "sh", zone: "2000400001", address: "user-zone1.base.svc.cluster.local", port: 7000, endpoints: 14,
      subset: { name: "zone1", labels: { "topology.kubernetes.io/zone": "2000400001" } }, service: "user-zone1",
    },
    {
      name: "user-zone2", region: "sh", zone: "200002", address: "user-zone2.base.svc.cluster.local", port: 7000, endpoints: 14,
      subset: { name: "zone2", labels: { "topology.kubernetes.io/zone": "200002" } }, service: "user-zone2",
    },
  ],
  // The seed's DestinationRule: consecutiveErrors 3 (502/503/504), interval 10s, ejection 30s,
  // maxEjectionPercent 100, minHealthPercent 0.
  outlier: { consecutiveGatewayErrors: 3, intervalSeconds: 10, baseEjectionSeconds: 30, maxEjectionPercent: 100, minHealthPercent: 0 },
  retry: { retryOn: "5xx", numRetries: 1, perTryTimeoutSeconds: 3, budget: { percent: 20, minRetries: 3 }, designConcurrency: 80 },
  kubernetes: { namespace: "base", host: "user.base.svc.cluster.local", service: "user", port: 7000 },
};

export const WAYPOINT: Role = {
  name: "waypoint",
  about: "seed 001: the waypoint of helloworld in an ambient multi-cluster mesh, preferring endpoints in its own cluster (failoverPriority topology.istio.io/cluster) and failing over to cluster2",
  node: { id: "waypoint-cluster1-0", cluster: "waypoint.sample", clusterId: "cluster1" },
  route: { name: "helloworld", authority: "*" },
  mode: "named",
  failoverPriority: ["topology.istio.io/cluster"],
  upstreams: [
    {
      name: "helloworld-cluster1", cluster: "cluster1", address: "helloworld.sample.svc.cluster.local", port: 5000,
      subset: { name: "cluster1", labels: { "topology.istio.io/cluster": "cluster1" } },
    },
    {
      // Reached through cluster2's east-west gateway (seed 002) in a real mesh.
      name: "helloworld-cluster2", cluster: "cluster2", address: "helloworld.sample.cluster2.example.internal", port: 5000,
      subset: { name: "cluster2", labels: { "topology.istio.io/cluster": "cluster2" } },
    },
  ],
  // The seed's DestinationRule: consecutive5xxErrors 1, interval 1s, baseEjectionTime 1m. With one
  // endpoint per cluster, Envoy's default maxEjectionPercent (10) would never eject it.
  outlier: { consecutive5xx: 1, intervalSeconds: 1, baseEjectionSeconds: 60, maxEjectionPercent: 100 },
  retry: { retryOn: "5xx", numRetries: 1, perTryTimeoutSeconds: 2, budget: { percent: 20, minRetries: 3 }, designConcurrency: 80 },
  kubernetes: { namespace: "sample", host: "helloworld.sample.svc.cluster.local", service: "helloworld", port: 5000 },
};

export const ROLES: readonly Role[] = [EDGE, INGRESS, WAYPOINT];

/**
 * Envoy's retry cap on an aggregate (circuit_breakers max_retries): the filter's budget at the
 * role's design load, never below its minimum. The router checks the aggregate's retry circuit
 * breaker before the aggregate picks a child, and an aggregate counts no requests of its own, so a
 * retry_budget percentage there is a percentage of 0; a fixed max_retries is what Envoy can enforce.
 */
export function retryConcurrency(role: Role): number {
  const b = role.retry.budget;
  return Math.max(b.minRetries, Math.ceil((b.percent / 100) * role.retry.designConcurrency));
}

/** The aggregate cluster that tries `first`, then the role's other upstreams in order. */
export function aggregateName(first: string): string {
  return `${first}-first`;
}

/**
 * The failover policy of a role. With `aggregates`, retries move to the next cluster through
 * Envoy aggregate clusters (the bootstraps define them); Istio and Envoy Gateway name their own
 * clusters, so their policies leave aggregates out and retries stay in the chosen cluster.
 */
export function policyFor(role: Role, options: { aggregates: boolean }): Record<string, unknown> {
  const names = role.upstreams.map((u) => u.name);
  const route: Record<string, unknown> = {
    name: role.route.name,
    match: { authority: role.route.authority, ...(role.route.pathPrefix ? { pathPrefix: role.route.pathPrefix } : {}) },
    destination: role.mode === "auto" ? { mode: "auto" } : { mode: "named", clusters: names },
    ...(role.failoverPriority ? { priority: { failoverPriority: role.failoverPriority } } : {}),
    retry: {
      retryOn: role.retry.retryOn,
      numRetries: role.retry.numRetries,
      perTryTimeout: `${role.retry.perTryTimeoutSeconds}s`,
      ...(options.aggregates ? { acrossClusters: true } : {}),
      // The filter owns the retry budget (Envoy cannot count an aggregate's requests): Envoy's own
      // retry budget defaults, 20% of recent requests, at least 3.
      budget: { percent: role.retry.budget.percent, minRetries: role.retry.budget.minRetries },
    },
  };
  const o = role.outlier;
  return {
    routingHeader: ROUTING_HEADER,
    clusters: role.upstreams.map((u) => ({
      name: u.name,
      ...(u.region ? { region: u.region } : {}),
      ...(u.zone ? { zone: u.zone } : {}),
      ...(u.cluster ? { cluster: u.cluster } : {}),
      ...(role.mode === "auto" ? { hosts: [role.route.authority] } : {}),
      ...(u.endpoints ? { endpoints: u.endpoints } : {}),
    })),
    ...(options.aggregates ? { aggregates: names.map((n) => ({ name: aggregateName(n), clusters: [n, ...names.filter((x) => x !== n)] })) } : {}),
    routes: [route],
    health: {
      outlierDetection: {
        ...(o.consecutive5xx !== undefined ? { consecutive5xx: o.consecutive5xx } : {}),
        ...(o.consecutiveGatewayErrors !== undefined ? { consecutiveGatewayErrors: o.consecutiveGatewayErrors } : {}),
        interval: `${o.intervalSeconds}s`,
        baseEjectionTime: `${o.baseEjectionSeconds}s`,
        maxEjectionPercent: o.maxEjectionPercent,
        ...(o.minHealthPercent !== undefined ? { minHealthPercent: o.minHealthPercent } : {}),
      },
    },
  };
}
