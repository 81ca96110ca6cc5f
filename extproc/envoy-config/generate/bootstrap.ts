// Renders a role (topology.ts) as an Envoy bootstrap in one of three forms:
//   wasm     the filter runs in Envoy (envoy.filters.http.wasm, V8, the built failover.wasm);
//   extproc  Envoy asks the sidecar (envoy.filters.http.ext_proc, gRPC over HTTP/2);
//   hybrid   the Wasm filter decides first, then the sidecar may override the routing header with
//            the health view it shares across Envoys; when the sidecar is down or slow
//            (failure_mode_allow, message_timeout) the Wasm decision stands.
//
// Every form routes the same way: a route that matches when the routing header is present sends
// the request to the cluster it names (cluster_header), the filter naming an aggregate cluster
// when retries must be able to move to the next cluster (previous_priorities). A second route
// catches requests that carry no routing header, which happens only when no failover filter ran
// (the Wasm VM failed open, the sidecar was unreachable): it sends them to the aggregate that
// prefers the local cluster, so traffic keeps flowing on Envoy's own priority failover. A client
// can never name the cluster nor set a header the filter owns: each is removed before routing
// (early header mutation) and only the filter sets them again.

import { SIDECAR_POLICY_KEY } from "../conventions.js";
import { MODULE_FILE_NAME } from "../../module/contract.js";
import { type Outlier, ROUTING_HEADER, type Role, type Upstream, aggregateName, policyFor, retryConcurrency } from "./topology.js";
import { atLeast, feature } from "../versions.js";
import { STATS_TAGS } from "../../sidecar/stats-tags.js";

export type Form = "wasm" | "extproc" | "hybrid";
export const FORMS: readonly Form[] = ["wasm", "extproc", "hybrid"];

type Obj = Record<string, unknown>;

/** What a generated config depends on beyond the role. */
export interface GenOptions {
  /** The request headers the module owns (owned-headers.ts): a client's copies are removed before routing. */
  readonly owned: readonly string[];
  /** The Envoy release the config is for ("1.36"): fields follow what it accepts. */
  readonly envoyVersion: string;
}

const any = (type: string, body: Obj = {}): Obj => ({ "@type": `type.googleapis.com/${type}`, ...body });

/** Where the module sits in the official container image command line of docs/running-with-envoy.md. */
const MODULE_PATH_IN_CONTAINER = `/etc/envoy/${MODULE_FILE_NAME}`;
const LISTENER_PORT = 10000;
const ADMIN_PORT = 9901;
const SIDECAR = { cluster: "failover-sidecar", address: "127.0.0.1", port: 50051 };
/** The request attributes the sidecar reads: the client address (source-IP affinity) and this proxy's node. */
export const REQUEST_ATTRIBUTES = ["source.address", "xds.node.id", "xds.node.locality.region", "xds.node.locality.zone", "xds.node.locality.sub_zone", "xds.node.metadata.CLUSTER_ID"];
/** What the sidecar learns each outcome from (the filter's on_log inputs) and explains with. */
export const RESPONSE_ATTRIBUTES = ["response.code", "response.flags", "response.code_details", "xds.cluster_name", "upstream.request_attempt_count", "upstream.address"];

/** The bootstrap fragment that gives the filter's metrics Prometheus labels (stats_tags are bootstrap-only). */
export function statsTagsBootstrap(): Obj {
  return { stats_config: { stats_tags: STATS_TAGS } };
}

export function bootstrap(role: Role, form: Form, options: GenOptions): Obj {
  const sidecar = form !== "wasm";
  return {
    node: {
      id: role.node.id,
      cluster: role.node.cluster,
      locality: { ...(role.node.region ? { region: role.node.region } : {}), ...(role.node.zone ? { zone: role.node.zone } : {}) },
      // CLUSTER_ID as Istio sets it: the filter reads it for failoverPriority by cluster.
      metadata: { CLUSTER_ID: role.node.clusterId, ...(sidecar ? { [SIDECAR_POLICY_KEY]: `policies/${role.name}.yaml` } : {}) },
    },
    admin: { address: socketAddress("127.0.0.1", ADMIN_PORT) },
    ...statsTagsBootstrap(),
    static_resources: {
      listeners: [listener(role, form, options)],
      clusters: [
        ...role.upstreams.map((u) => upstreamCluster(role, u)),
        ...role.upstreams.map((u) => aggregate(role, u)),
        ...(sidecar ? [sidecarCluster()] : []),
      ],
    },
  };
}

function listener(role: Role, form: Form, options: GenOptions): Obj {
  const filters = [
    ...(form !== "extproc" ? [wasmFilter(role, options.envoyVersion)] : []),
    ...(form !== "wasm" ? [extProcFilter()] : []),
    { name: "envoy.filters.http.router", typed_config: any("envoy.extensions.filters.http.router.v3.Router") },
  ];
  return {
    name: role.name,
    address: socketAddress("0.0.0.0", LISTENER_PORT),
    filter_chains: [{
      filters: [{
        name: "envoy.filters.network.http_connection_manager",
        typed_config: any("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
          stat_prefix: role.name,
          use_remote_address: true,
          normalize_path: true,
          merge_slashes: true,
          early_header_mutation_extensions: [stripOwnedHeaders(options.owned)],
          access_log: [{
            name: "envoy.access_loggers.stdout",
            typed_config: any("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", {
              log_format: { text_format_source: { inline_string: '[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)%" %RESPONSE_CODE% %RESPONSE_FLAGS% cluster=%UPSTREAM_CLUSTER% attempts=%UPSTREAM_REQUEST_ATTEMPT_COUNT% "%REQ(X-FAILOVER-DECISION)%"\n' } },
            }),
          }],
          route_config: { name: role.name, virtual_hosts: [virtualHost(role)] },
          http_filters: filters,
        }),
      }],
    }],
  };
}

/**
 * The early header mutation that removes a client's copy of every header the filter owns. It runs
 * before routing and before any HTTP filter, so with no filter running (a failed Wasm VM, a down
 * sidecar) a client can neither pick the cluster nor set retries, timeouts or explanations.
 */
export function stripOwnedHeaders(owned: readonly string[]): Obj {
  return {
    name: "envoy.http.early_header_mutation.header_mutation",
    typed_config: any("envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation", { mutations: owned.map((remove) => ({ remove })) }),
  };
}

function virtualHost(role: Role): Obj {
  const r = role.route;
  const domains = r.authority === "*" ? ["*"] : [r.authority, `${r.authority}:*`];
  const prefix = r.pathPrefix ?? "/";
  const plugins = {
    retry_priority: {
      name: "envoy.retry_priorities.previous_priorities",
      typed_config: any("envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", { update_frequency: 1 }),
    },
    retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: any("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate") }],
    host_selection_retry_max_attempts: 3,
  };
  return {
    name: role.name,
    domains,
    routes: [
      {
        // The filter's choice. Its retry headers (x-envoy-retry-on, x-envoy-max-retries, ...) set
        // the retry policy per request; the plugins move each retry to the aggregate's next child.
        name: r.name,
        match: { prefix, headers: [{ name: ROUTING_HEADER, present_match: true }] },
        route: { cluster_header: ROUTING_HEADER, retry_policy: plugins },
      },
      {
        // No failover filter ran: Envoy's own priority failover over the local-first aggregate,
        // with the policy's retry settings.
        name: `${r.name}-fail-open`,
        match: { prefix },
        route: {
          cluster: aggregateName(role.upstreams[0].name),
          retry_policy: { retry_on: role.retry.retryOn, num_retries: role.retry.numRetries, per_try_timeout: `${role.retry.perTryTimeoutSeconds}s`, ...plugins },
        },
      },
    ],
  };
}

function upstreamCluster(role: Role, u: Upstream): Obj {
  return {
    name: u.name,
    type: "STRICT_DNS",
    connect_timeout: "1s",
    dns_lookup_family: "V4_ONLY",
    lb_policy: "ROUND_ROBIN",
    load_assignment: {
      cluster_name: u.name,
      endpoints: [{
        locality: { ...(u.region ? { region: u.region } : {}), ...(u.zone ? { zone: u.zone } : {}) },
        lb_endpoints: [{
          endpoint: {
            address: socketAddress(u.address, u.port),
            ...(role.healthCheck ? { health_check_config: { port_value: role.healthCheck.port } } : {}),
          },
        }],
      }],
    },
    outlier_detection: outlierDetection(role.outlier),
    ...(role.outlier.minHealthPercent !== undefined ? { common_lb_config: { healthy_panic_threshold: { value: role.outlier.minHealthPercent } } } : {}),
    ...(role.healthCheck
      ? { health_checks: [{ timeout: "1s", interval: "5s", unhealthy_threshold: 2, healthy_threshold: 1, http_health_check: { path: role.healthCheck.path } }] }
      : {}),
  };
}

function outlierDetection(o: Outlier): Obj {
  return {
    ...(o.consecutive5xx !== undefined ? { consecutive_5xx: o.consecutive5xx, enforcing_consecutive_5xx: 100 } : {}),
    // Envoy counts gateway errors (502, 503, 504) but enforces nothing on them by default.
    ...(o.consecutiveGatewayErrors !== undefined ? { consecutive_gateway_failure: o.consecutiveGatewayErrors, enforcing_consecutive_gateway_failure: 100 } : {}),
    interval: `${o.intervalSeconds}s`,
    base_ejection_time: `${o.baseEjectionSeconds}s`,
    max_ejection_percent: o.maxEjectionPercent,
  };
}

/**
 * The aggregate that tries `first`, then the others in order: the cluster a retry moves through.
 * Its retry circuit breaker is the only one Envoy checks at the aggregate (aggregate_cluster docs;
 * cluster_integration_test.cc CircuitBreakerMaxRetriesTest). It is a fixed max_retries from the
 * policy's budget (topology.ts retryConcurrency), not a retry_budget: an aggregate counts no
 * requests of its own, so a budget_percent there is a percentage of 0. The filter enforces the
 * percentage itself (x-envoy-max-retries: 0 when over budget).
 */
function aggregate(role: Role, first: Upstream): Obj {
  const order = [first.name, ...role.upstreams.filter((u) => u !== first).map((u) => u.name)];
  return {
    name: aggregateName(first.name),
    lb_policy: "CLUSTER_PROVIDED",
    cluster_type: { name: "envoy.clusters.aggregate", typed_config: any("envoy.extensions.clusters.aggregate.v3.ClusterConfig", { clusters: order }) },
    circuit_breakers: { thresholds: [{ priority: "DEFAULT", max_retries: retryConcurrency(role) }] },
  };
}

function sidecarCluster(): Obj {
  return {
    name: SIDECAR.cluster,
    type: "STATIC",
    connect_timeout: "0.25s",
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": any("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", {
        explicit_http_config: { http2_protocol_options: {} },
      }),
    },
    load_assignment: { cluster_name: SIDECAR.cluster, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(SIDECAR.address, SIDECAR.port) } }] }] },
  };
}

/**
 * How a failed VM is handled: skipped, so the fail-open route serves. Envoy >= 1.33 reads
 * failure_policy and deprecates fail_open (setting both is an error); older ones know only fail_open.
 */
export function wasmFailOpen(envoyVersion: string): Obj {
  return atLeast(envoyVersion, feature("failure-policy").envoy!) ? { failure_policy: "FAIL_OPEN" } : { fail_open: true };
}

function wasmFilter(role: Role, envoyVersion: string): Obj {
  return {
    name: "envoy.filters.http.wasm",
    typed_config: any("envoy.extensions.filters.http.wasm.v3.Wasm", {
      config: {
        name: "failover",
        // One VM id for every failover filter of this Envoy: health lives in its shared data.
        vm_config: { vm_id: "failover", runtime: "envoy.wasm.runtime.v8", code: { local: { filename: MODULE_PATH_IN_CONTAINER } } },
        configuration: any("google.protobuf.StringValue", { value: JSON.stringify(policyFor(role, { aggregates: true }), null, 2) }),
        // A failed VM is skipped rather than failing every request: the fail-open route serves.
        ...wasmFailOpen(envoyVersion),
      },
    }),
  };
}

function extProcFilter(): Obj {
  return { name: "envoy.filters.http.ext_proc", typed_config: extProcConfig(SIDECAR.cluster) };
}

/** The ext_proc filter's config, calling the sidecar through `cluster` (which must speak HTTP/2). */
export function extProcConfig(cluster: string): Obj {
  return any("envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor", {
    grpc_service: { envoy_grpc: { cluster_name: cluster } },
    // Down or slow: the request goes on without the sidecar's answer.
    failure_mode_allow: true,
    message_timeout: "0.2s",
    processing_mode: {
      request_header_mode: "SEND",
      response_header_mode: "SEND",
      request_body_mode: "NONE",
      response_body_mode: "NONE",
      request_trailer_mode: "SKIP",
      response_trailer_mode: "SKIP",
    },
    // The filter sets x-envoy-retry-* headers; ext_proc may change x-envoy-* only when allowed.
    mutation_rules: { allow_envoy: true },
    // Re-match the route after the sidecar wrote the routing header.
    route_cache_action: "CLEAR",
    request_attributes: REQUEST_ATTRIBUTES,
    response_attributes: RESPONSE_ATTRIBUTES,
    stat_prefix: "failover",
  });
}

function socketAddress(address: string, port: number): Obj {
  return { socket_address: { address, port_value: port } };
}
