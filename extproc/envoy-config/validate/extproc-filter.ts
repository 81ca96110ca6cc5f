// What the failover sidecar needs from Envoy's ext_proc filter, wherever the filter is written
// (a bootstrap, or an Istio EnvoyFilter patch): fail-open, headers both ways and nothing else,
// permission to set the x-envoy-* retry headers, a route cache that follows the routing header,
// and the attributes the filter reads, each a name Envoy provides.

import { attributeProblem } from "./attributes.js";
import type { Issues } from "./issues.js";
import type { Path } from "./source.js";
import { durationSeconds, isObject } from "./values.js";

/** What the filter's on_log reads; without them the sidecar cannot learn outcomes. */
const OUTCOME_ATTRIBUTES = ["response.code", "response.flags", "upstream.request_attempt_count"];

type Obj = Record<string, unknown>;

/**
 * Checks a decoded ExternalProcessor. `checkCluster` is called with the envoy_grpc cluster name
 * when the caller can see the clusters (a bootstrap); an Istio patch cannot.
 */
export function checkExtProcFilter(cfg: Obj, path: Path, issues: Issues, checkCluster?: (name: string, at: Path) => void): void {
  const grpc = obj(cfg.grpc_service);
  if (checkCluster && isObject(grpc.envoy_grpc)) checkCluster(String(grpc.envoy_grpc.cluster_name ?? ""), [...path, "grpc_service", "envoy_grpc", "cluster_name"]);
  if (cfg.failure_mode_allow !== true) issues.error([...path, "failure_mode_allow"], "must be true: a down or slow sidecar must not fail requests (the route then serves Envoy's own choice)");
  const mode = obj(cfg.processing_mode);
  const expect = (field: string, allowed: string[], why: string) => {
    const v = mode[field];
    if (v !== undefined && !allowed.includes(String(v))) issues.error([...path, "processing_mode", field], `is ${String(v)}: ${why}`);
  };
  expect("request_header_mode", ["DEFAULT", "SEND"], "the sidecar decides on the request headers (SEND)");
  expect("response_header_mode", ["DEFAULT", "SEND"], "the sidecar explains and learns on the response headers (SEND)");
  expect("request_body_mode", ["NONE"], "the sidecar never reads bodies (NONE)");
  expect("response_body_mode", ["NONE"], "the sidecar never reads bodies (NONE)");
  expect("request_trailer_mode", ["DEFAULT", "SKIP"], "the sidecar never reads trailers (SKIP)");
  expect("response_trailer_mode", ["DEFAULT", "SKIP"], "the sidecar never reads trailers (SKIP)");
  const rules = obj(cfg.mutation_rules);
  if (rules.allow_envoy !== true) {
    issues.error([...path, "mutation_rules", "allow_envoy"], "must be true: the filter sets x-envoy-retry-on and x-envoy-max-retries, and ext_proc drops changes to x-envoy-* headers otherwise");
  }
  if (rules.disallow_all === true) issues.error([...path, "mutation_rules", "disallow_all"], "forbids the routing header the sidecar writes");
  if (cfg.route_cache_action === "RETAIN" || cfg.disable_clear_route_cache === true) {
    issues.error([...path, cfg.route_cache_action === "RETAIN" ? "route_cache_action" : "disable_clear_route_cache"], "keeps the route chosen before the sidecar named a cluster: the routing header would be ignored");
  }
  if (cfg.observability_mode === true) issues.error([...path, "observability_mode"], "Envoy would ignore the sidecar's answers");
  const timeout = typeof cfg.message_timeout === "string" ? durationSeconds(cfg.message_timeout) : undefined;
  if (timeout !== undefined && timeout > 1) issues.warn([...path, "message_timeout"], `${cfg.message_timeout}: a slow sidecar can add this much to every request`);
  checkAttributes(cfg.request_attributes, [...path, "request_attributes"], issues, false);
  checkAttributes(cfg.response_attributes, [...path, "response_attributes"], issues, true);
}

/** Each name is an Envoy attribute; the response list must carry the outcome attributes. */
export function checkAttributes(names: unknown, path: Path, issues: Issues, response: boolean): void {
  const list = Array.isArray(names) ? names.map((n) => (typeof n === "string" ? n : "")) : [];
  list.forEach((name, i) => {
    const problem = attributeProblem(name);
    if (problem) issues.error([...path, i], `"${name}": ${problem}`);
  });
  const missing = OUTCOME_ATTRIBUTES.filter((a) => !list.includes(a));
  if (response && missing.length) issues.error(path, `must include ${missing.join(", ")}: the sidecar learns each outcome from them`);
}

function obj(v: unknown): Obj {
  return isObject(v) ? v : {};
}
