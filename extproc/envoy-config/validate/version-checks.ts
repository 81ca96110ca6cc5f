// What a config asks of the Envoy it runs in, against the Envoy version the user names
// (`validate-envoy --envoy-version`, default: the current release): the fields it lacks are
// errors, what degrades is a warning; and the proxy-independent facts of versions.ts that make a
// valid config misbehave (a retry budget on an aggregate, Envoy Gateway's ext_proc without
// retries, Istio dropping route_cache_action).

import { typeOf } from "./client-headers.js";
import type { Issues } from "./issues.js";
import { type Resource, arr, obj } from "./resource.js";
import type { Path } from "./source.js";
import { isObject } from "./values.js";
import { atLeast, feature } from "../versions.js";

type Obj = Record<string, unknown>;

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const WASM_FILTER = "envoy.extensions.filters.http.wasm.v3.Wasm";
const EXT_PROC_FILTER = "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const AGGREGATE = "envoy.extensions.clusters.aggregate.v3.ClusterConfig";

/** Checks a decoded bootstrap against Envoy `version`. */
export function checkBootstrapVersion(b: Obj, issues: Issues, version: string): void {
  arr(obj(b.static_resources).clusters).forEach((c, i) => checkAggregateRetries(c, ["static_resources", "clusters", i], issues));
  arr(obj(b.static_resources).listeners).forEach((l, i) => {
    arr(l.filter_chains).forEach((chain, j) => {
      arr(chain.filters).forEach((f, k) => {
        const hcm = obj(f.typed_config);
        if (typeOf(hcm) !== HCM) return;
        const base: Path = ["static_resources", "listeners", i, "filter_chains", j, "filters", k, "typed_config"];
        arr(hcm.http_filters).forEach((h, n) => {
          const cfg = obj(h.typed_config);
          const at: Path = [...base, "http_filters", n, "typed_config"];
          if (typeOf(cfg) === WASM_FILTER) checkWasmFailure(obj(cfg.config), [...at, "config"], issues, version);
          if (typeOf(cfg) === EXT_PROC_FILTER) checkExtProcVersion(cfg, at, issues, version);
        });
      });
    });
  });
}

/** fail_open / failure_policy as Envoy `version` reads them. */
export function checkWasmFailure(config: Obj, path: Path, issues: Issues, version: string): void {
  const since = feature("failure-policy").envoy!;
  if (config.fail_open !== undefined && config.failure_policy !== undefined) {
    issues.error([...path, "failure_policy"], "fail_open is set too: Envoy rejects a plugin that sets both (keep failure_policy)");
  } else if (config.fail_open !== undefined && atLeast(version, since)) {
    issues.warn([...path, "fail_open"], `deprecated since Envoy ${since}: write failure_policy: FAIL_OPEN`);
  }
}

function checkExtProcVersion(cfg: Obj, path: Path, issues: Issues, version: string): void {
  const cache = feature("route-cache-action");
  if (cfg.route_cache_action !== undefined && !atLeast(version, cache.envoy!)) {
    issues.error([...path, "route_cache_action"], `unknown in Envoy ${version} (new in ${cache.envoy}): leave it out there; the sidecar's clear_route_cache still re-matches the route`);
  }
  const attempts = feature("request-attempt-count");
  const attrs = Array.isArray(cfg.response_attributes) ? cfg.response_attributes : [];
  const i = attrs.indexOf("upstream.request_attempt_count");
  if (i >= 0 && !atLeast(version, attempts.envoy!)) {
    issues.warn([...path, "response_attributes", i], `Envoy ${version} has no upstream.request_attempt_count (new in ${attempts.envoy}): ${attempts.below}`);
  }
}

/**
 * An aggregate's retry_budget: the router checks the aggregate's retry circuit breaker, and an
 * aggregate counts no active requests of its own, so budget_percent is a percentage of 0 and only
 * min_retry_concurrency is left (aggregate_cluster.rst "Circuit Breaking";
 * cluster_integration_test.cc CircuitBreakerMaxRetriesTest).
 */
function checkAggregateRetries(c: Obj, path: Path, issues: Issues): void {
  if (typeOf(obj(obj(c.cluster_type).typed_config)) !== AGGREGATE) return;
  arr(obj(c.circuit_breakers).thresholds).forEach((t, i) => {
    if (!isObject(t.retry_budget)) return;
    issues.warn([...path, "circuit_breakers", "thresholds", i, "retry_budget"],
      "on an aggregate cluster this is not a percentage: the aggregate counts no active requests, so only min_retry_concurrency applies; set max_retries (the failover filter enforces the policy's percentage budget itself)");
  });
}

/** Kubernetes resources whose proxy drops what the failover filter relies on. */
export function checkResourcesVersion(resources: Resource[], version: string): void {
  for (const r of resources) {
    if (r.kind === "EnvoyExtensionPolicy" && Array.isArray(r.spec.extProc)) checkGatewayExtProcRetries(r, resources);
    if (r.kind === "EnvoyFilter") checkIstioRouteCacheAction(r, version);
  }
}

/**
 * Envoy Gateway emits no ext_proc mutation_rules (internal/xds/translator/extproc.go@d32f2829), so
 * Envoy drops the sidecar's x-envoy-* retry headers: retries need a BackendTrafficPolicy.
 */
function checkGatewayExtProcRetries(r: Resource, all: Resource[]): void {
  const routes = arr(r.spec.targetRefs).filter((t) => t.kind === "HTTPRoute").map((t) => String(t.name));
  const retried = (name: string) => all.some((b) => b.kind === "BackendTrafficPolicy" && b.namespace === r.namespace && isObject(b.spec.retry)
    && arr(b.spec.targetRefs).some((t) => t.kind === "HTTPRoute" && t.name === name));
  const missing = routes.filter((n) => !retried(n));
  if (missing.length) {
    r.issues.warn(["spec", "extProc"], `Envoy Gateway sets no ext_proc mutation_rules, so Envoy ignores the sidecar's x-envoy-* retry headers: add a BackendTrafficPolicy with retry for HTTPRoute ${missing.join(", ")} (see envoy/gateway/extproc.yaml), or use the Wasm form`);
  }
}

/** Istio 1.22 (Envoy 1.30) decodes EnvoyFilter patches with unknown fields allowed and drops route_cache_action. */
function checkIstioRouteCacheAction(r: Resource, version: string): void {
  const cache = feature("route-cache-action");
  if (atLeast(version, cache.envoy!)) return;
  arr(r.spec.configPatches).forEach((p, i) => {
    const cfg = obj(obj(obj(p.patch).value).typed_config);
    if (typeOf(cfg) === EXT_PROC_FILTER && cfg.route_cache_action !== undefined) {
      r.issues.warn(["spec", "configPatches", i, "patch", "value", "typed_config", "route_cache_action"],
        `Istio 1.22 and older (Envoy ${version}) drop this field silently: ${cache.below.split("; ")[1] ?? cache.below}`);
    }
  });
}
