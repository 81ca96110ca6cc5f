// What each Envoy, Istio and Envoy Gateway version can do, for the features the shipped configs
// use: one table, each fact with the source it was read from (file @ commit, or the changelog).
// The generators pick fields by the target Envoy version; `validate-envoy --envoy-version`
// reports what a named version lacks; docs/running-with-envoy.md shows the same table.

/** The Envoy the shipped files target: envoyproxy/envoy VERSION.txt is 1.36.6 @ 002eac18. */
export const CURRENT_ENVOY = "1.36";
/** The oldest Envoy the shipped configs load in (route_cache_action, below). */
export const MIN_ENVOY = "1.31";
/** From this version on every feature works at full accuracy (request_attempt_count, failure_policy). */
export const FULL_ACCURACY_ENVOY = "1.33";

export interface Feature {
  readonly id: FeatureId;
  /** What the configs use it for. */
  readonly what: string;
  /** First release that has it; undefined: the product does not depend on that proxy for it. */
  readonly envoy?: string;
  readonly istio?: string;
  readonly envoyGateway?: string;
  /** What happens below the minimum. */
  readonly below: string;
  /** Where the fact was read. */
  readonly source: string;
}

export type FeatureId =
  | "aggregate-cluster" | "previous-priorities" | "early-header-mutation" | "route-cache-action"
  | "request-attempt-count" | "failure-policy" | "internal-address-strip" | "eg-ext-proc-mutation"
  | "eg-early-request-headers" | "istio-target-refs" | "composite-cluster" | "upstream-address";

export const FEATURES: readonly Feature[] = [
  {
    id: "aggregate-cluster", what: "aggregate clusters (envoy.clusters.aggregate): the failover order a retry walks", envoy: "1.13",
    below: "the bootstrap does not load", source: "Envoy changelog 1.13.0; source/extensions/clusters/aggregate",
  },
  {
    id: "previous-priorities", what: "previous_priorities moves each retry to the aggregate's next child", envoy: "1.15",
    below: "a retry may go back to the failed cluster",
    source: "envoyproxy/envoy test/extensions/clusters/aggregate/cluster_integration_test.cc PreviousPrioritiesRetryPredicate (a 503 on cluster_1 is retried on cluster_2), present @ e74988f6 and on main; the aggregate doc's note that PriorityLoad retry plugins do not work is contradicted by it",
  },
  {
    id: "early-header-mutation", what: "HTTP early header mutation: removes a client's copies of every header the filter owns before routing", envoy: "1.31",
    below: "not checked below the project minimum (the extension is older: in go-control-plane v0.11.1, May 2023)",
    source: "api/envoy/extensions/http/early_header_mutation/header_mutation/v3 in the @grpc/grpc-js-xds 1.14.1 protos (Envoy 1.31 API)",
  },
  {
    id: "route-cache-action", what: "ext_proc route_cache_action: CLEAR re-matches the route after the sidecar names the cluster", envoy: "1.31", istio: "1.23",
    below: "Envoy < 1.31 rejects the field; Istio 1.22 drops it silently from an EnvoyFilter (its go-control-plane 57c85e18, 2024-04-15, predates the field; pilot/pkg/model/envoyfilter.go@1.22.0 decodes patches with unknown fields allowed), so only the sidecar's clear_route_cache re-matches the route",
    source: "Envoy changelog 1.31.0; istio/istio go.mod @ 1.22.0 and @ 1.23.0 (go-control-plane f888b4f7, 2024-07-19)",
  },
  {
    id: "request-attempt-count", what: "upstream.request_attempt_count: how many attempts a request took (the outcome of each attempt)", envoy: "1.33",
    below: "the attribute is absent: the module cannot tell a first-attempt success from one rescued by a retry on another cluster, so the outcomes of retried requests cannot be attributed attempt by attempt",
    source: "Envoy changelog 1.33.0 (CEL attributes); source/extensions/filters/common/expr/context.cc",
  },
  {
    id: "upstream-address", what: "upstream.address (each attempt's endpoint, ip:port) in ext_proc response_attributes: the healthy share from endpoints", envoy: "1.30",
    below: "ext_proc sends no attributes: the sidecar's clusters fall back to the success-rate estimate (healthFrom: success-rate). In Wasm the property is older than the project minimum (Context::findValue maps upstream to the CEL UpstreamWrapper, read @ 031fa2b5)",
    source: "Envoy changelog 1.30.0 (changelogs/1.30.0.yaml @ 22fecd20: ext_proc implemented request_attributes and response_attributes); source/extensions/filters/common/expr/context.cc @ 00ab8ce99a54 (UpstreamLookupValues Address: the upstream host's address()->asStringView())",
  },
  {
    id: "failure-policy", what: "Wasm failure_policy (FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD); fail_open is deprecated for it and setting both is an error", envoy: "1.33",
    below: "Envoy < 1.33 rejects failure_policy as an unknown field: use fail_open: true",
    source: "Envoy changelog 1.33.0, api/envoy/extensions/wasm/v3/wasm.proto; Istio emits failure_policy (pilot/pkg/model/extensions.go@86c9f01f:262), Envoy Gateway still emits fail_open (internal/xds/translator/wasm.go@d32f2829:166)",
  },
  {
    id: "internal-address-strip", what: "Envoy strips x-envoy-* retry and timeout headers from external clients before the filters", envoy: "1.33",
    below: "private (RFC 1918) and loopback clients count as internal and their x-envoy-* headers are honoured; the early header mutation removes the owned ones anyway",
    source: "CVE-2024-45806: without internal_address_config Envoy trusted RFC 1918 addresses unless the runtime guard envoy.reloadable_features.explicit_internal_address_config is true (source/extensions/filters/network/http_connection_manager/config.cc createInternalAddressConfig); the guard defaults to true from 1.33 and is removed in 1.36 (changelogs/1.36.0.yaml); Istio's ISTIO-SECURITY-2024-006",
  },
  {
    id: "eg-ext-proc-mutation", what: "Envoy Gateway's ext_proc: no mutation_rules and no route_cache_action are emitted", envoyGateway: "none, to v1.9",
    below: "Envoy ignores the sidecar's x-envoy-* retry headers: retries come from the BackendTrafficPolicy in envoy/gateway/extproc.yaml, or use the Wasm form",
    source: "envoyproxy/gateway internal/xds/translator/extproc.go@d32f2829 extProcConfig (sets neither field)",
  },
  {
    id: "eg-early-request-headers", what: "ClientTrafficPolicy headers.earlyRequestHeaders: the same early header mutation in Envoy Gateway", envoyGateway: "1.2",
    below: "nothing strips a client's owned headers before routing",
    source: "envoyproxy/gateway 8be7e695 (2024-08-14, first in v1.2.0); internal/xds/translator/listener.go@d32f2829 buildEarlyHeaderMutation",
  },
  {
    id: "istio-target-refs", what: "targetRefs on WasmPlugin and AuthorizationPolicy (binding them to a waypoint)", istio: "1.22",
    below: "a waypoint cannot be targeted", source: "istio/api security/v1beta1/authorization_policy.proto and extensions/v1alpha1/wasm.proto: target_refs @ tag 1.22.0 (628d0981), absent @ 1.21.0",
  },
  {
    id: "composite-cluster", what: "composite cluster (retry attempt n to child n): not used, aggregates cover retries across clusters",
    below: "not needed", source: "DESIGN.md",
  },
];

export function feature(id: FeatureId): Feature {
  return FEATURES.find((f) => f.id === id)!;
}

/** "1.31", "v1.31.2", "1.31-latest" -> "1.31"; undefined when it is not a version. */
export function parseVersion(text: string): string | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:-latest)?$/.exec(text.trim());
  return m ? `${Number(m[1])}.${Number(m[2])}` : undefined;
}

/** Negative when a is older than b. */
export function compareVersions(a: string, b: string): number {
  const [am, an] = a.split(".").map(Number);
  const [bm, bn] = b.split(".").map(Number);
  return am !== bm ? am - bm : an - bn;
}

export function atLeast(version: string, minimum: string): boolean {
  return compareVersions(version, minimum) >= 0;
}

/** The Envoy features `version` lacks, among `used`. */
export function lackedBy(version: string, used: readonly FeatureId[]): Feature[] {
  return used.map(feature).filter((f) => f.envoy !== undefined && !atLeast(version, f.envoy));
}

/**
 * A field Envoy added after the API snapshot the validator decodes with (the @grpc/grpc-js-xds
 * 1.14.1 protos, Envoy 1.31): not a proto, only what the shipped configs write of it, so the
 * strict decoder can accept it for the Envoy versions that have it and reject it for older ones.
 */
export interface NewerField {
  /** Full name of the message that has the field. */
  readonly message: string;
  readonly field: string;
  readonly jsonName: string;
  readonly since: string;
  /** The enum value names the field takes. */
  readonly values: readonly string[];
  /** What to write for an older Envoy. */
  readonly older: string;
  readonly source: string;
}

export const NEWER_FIELDS: readonly NewerField[] = [
  {
    message: "envoy.extensions.wasm.v3.PluginConfig", field: "failure_policy", jsonName: "failurePolicy", since: feature("failure-policy").envoy!,
    values: ["FAIL_RELOAD", "FAIL_CLOSED", "FAIL_OPEN"], older: "write fail_open: true instead",
    source: "Envoy changelog 1.33.0; the value names as Istio writes them (pilot/pkg/model/extensions.go@86c9f01f:262-266)",
  },
];

export function newerField(message: string, key: string): NewerField | undefined {
  const name = message.startsWith(".") ? message.slice(1) : message;
  return NEWER_FIELDS.find((f) => f.message === name && (f.field === key || f.jsonName === key));
}

/** The table docs/running-with-envoy.md shows (a test keeps the two equal). */
export function versionTable(): string {
  const rows = FEATURES.filter((f) => f.id !== "composite-cluster").map((f) =>
    `| ${f.what} | ${f.envoy ?? "-"} | ${f.istio ?? "-"} | ${f.envoyGateway ?? "-"} | ${f.below} |`);
  return ["| feature | Envoy | Istio | Envoy Gateway | below the minimum |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
}
