// The scenario's `envoy` block: Envoy's own side of each inventory cluster (endpoints, load
// balancer, panic threshold, outlier detection) and the retry circuit breaker, with Envoy's
// defaults for what it leaves out.

import type { PathSegment } from "../module/policy-file.js";
import { Checker, isObj, Obj, parseRate, Picked } from "./scenario-checker.js";
import type { EnvoyClusterSpec } from "./scenario-types.js";
import { LB_POLICIES, LbPolicy } from "./simulate/balancer.js";
import { DEFAULT_MAX_EJECTION_TIME_MS, OUTLIER_DEFAULTS, OutlierConfig } from "./simulate/outlier.js";

/** Envoy's default for circuit_breakers.thresholds.max_retries. */
const ENVOY_DEFAULT_MAX_RETRIES = 3;

const ENVOY_DEFAULT_PANIC_THRESHOLD = 50;

const ENVOY_FIELDS = ["maxRetries", "clusters"];
const ENVOY_CLUSTER_FIELDS = ["endpoints", "lbPolicy", "healthyPanicThreshold", "outlierDetection"];
const OUTLIER_DURATIONS = ["interval", "baseEjectionTime", "maxEjectionTime"] as const;
const OUTLIER_COUNTS = ["consecutive5xx", "consecutiveGatewayFailure", "consecutiveLocalOriginFailure"] as const;
const OUTLIER_PERCENTS = [
  "enforcingConsecutive5xx", "enforcingConsecutiveGatewayFailure", "enforcingConsecutiveLocalOriginFailure", "maxEjectionPercent",
] as const;
const OUTLIER_FLAGS = ["splitExternalLocalOriginErrors", "alwaysEjectOneHost"] as const;
const OUTLIER_FIELDS = [...OUTLIER_DURATIONS, ...OUTLIER_COUNTS, ...OUTLIER_PERCENTS, ...OUTLIER_FLAGS];

const wholeAtLeast = (v: unknown, min: number): v is number => Number.isInteger(v) && (v as number) >= min;

/**
 * The `envoy` block: the retry circuit breaker, and per inventory cluster its endpoints, load
 * balancer, panic threshold and outlier detection, with Envoy's defaults for what it leaves out.
 */
export function envoyOf(
  check: Checker, picked: Picked | undefined, known: string[], config: Obj,
): { maxRetries: number; clusters: Map<string, EnvoyClusterSpec> } {
  const policyEndpoints = new Map(
    (Array.isArray(config.clusters) ? config.clusters : []).filter(isObj)
      .map((c) => [String(c.name), wholeAtLeast(c.endpoints, 1) ? c.endpoints : 1]),
  );
  const clusters = new Map(known.map((name): [string, EnvoyClusterSpec] => [name, {
    endpoints: policyEndpoints.get(name) ?? 1, lbPolicy: "ROUND_ROBIN", healthyPanicThreshold: ENVOY_DEFAULT_PANIC_THRESHOLD,
    outlierDetection: undefined,
  }]));
  let maxRetries = ENVOY_DEFAULT_MAX_RETRIES;
  if (!picked || !check.fields(picked.value, picked.path, ENVOY_FIELDS)) return { maxRetries, clusters };
  const v = picked.value;
  if (v.maxRetries !== undefined) {
    if (wholeAtLeast(v.maxRetries, 0)) maxRetries = v.maxRetries;
    else check.fail([...picked.path, "maxRetries"], "expected a whole number >= 0");
  }
  if (v.clusters === undefined) return { maxRetries, clusters };
  const cpath = [...picked.path, "clusters"];
  if (!isObj(v.clusters)) {
    check.fail(cpath, "expected a mapping: cluster -> {endpoints, lbPolicy, healthyPanicThreshold, outlierDetection}");
    return { maxRetries, clusters };
  }
  for (const [name, spec] of Object.entries(v.clusters)) {
    const path = [...cpath, name];
    const out = clusters.get(name);
    if (!out) {
      check.fail(path, `not a cluster of the policy (${known.join(", ")})`);
      continue;
    }
    if (!check.fields(spec, path, ENVOY_CLUSTER_FIELDS)) continue;
    if (spec.endpoints !== undefined) {
      if (wholeAtLeast(spec.endpoints, 1) && spec.endpoints <= 4096) out.endpoints = spec.endpoints;
      else check.fail([...path, "endpoints"], "expected a whole number of endpoints, 1 to 4096");
    }
    if (spec.lbPolicy !== undefined) {
      if (LB_POLICIES.includes(spec.lbPolicy as LbPolicy)) out.lbPolicy = spec.lbPolicy as LbPolicy;
      else check.fail([...path, "lbPolicy"], `expected one of: ${LB_POLICIES.join(", ")} (the load balancers modelled)`);
    }
    if (spec.healthyPanicThreshold !== undefined) {
      const t = spec.healthyPanicThreshold;
      if (typeof t === "number" && t >= 0 && t <= 100) out.healthyPanicThreshold = t;
      else check.fail([...path, "healthyPanicThreshold"], "expected a percentage, 0 to 100");
    }
    if (spec.outlierDetection !== undefined) out.outlierDetection = outlierOf(check, spec.outlierDetection, [...path, "outlierDetection"]);
  }
  return { maxRetries, clusters };
}

/** cluster.outlier_detection in Envoy's field names (camelCase), each left out taking Envoy's default. */
function outlierOf(check: Checker, v: unknown, path: PathSegment[]): OutlierConfig | undefined {
  if (!check.fields(v, path, OUTLIER_FIELDS)) return undefined;
  const out: Omit<OutlierConfig, "maxEjectionTimeMs"> & { maxEjectionTimeMs?: number } = { ...OUTLIER_DEFAULTS };
  for (const k of OUTLIER_DURATIONS) {
    if (v[k] === undefined) continue;
    const ms = check.duration(v[k], [...path, k]);
    if (ms === undefined) continue;
    if (k !== "maxEjectionTime" && ms <= 0) check.fail([...path, k], "must be above 0");
    else out[`${k}Ms`] = ms;
  }
  for (const k of OUTLIER_COUNTS) {
    if (v[k] === undefined) continue;
    if (wholeAtLeast(v[k], 0)) out[k] = v[k];
    else check.fail([...path, k], "expected a whole number >= 0");
  }
  for (const k of OUTLIER_PERCENTS) {
    if (v[k] === undefined) continue;
    if (wholeAtLeast(v[k], 0) && v[k] <= 100) out[k] = v[k];
    else check.fail([...path, k], "expected a whole percentage, 0 to 100");
  }
  for (const k of OUTLIER_FLAGS) {
    if (v[k] === undefined) continue;
    if (typeof v[k] === "boolean") out[k] = v[k];
    else check.fail([...path, k], "expected true or false");
  }
  // DetectorConfig: max_ejection_time defaults to the larger of 300 s and the base; DetectorImpl::create
  // refuses a max below the base.
  const maxEjectionTimeMs = out.maxEjectionTimeMs ?? Math.max(DEFAULT_MAX_EJECTION_TIME_MS, out.baseEjectionTimeMs);
  if (maxEjectionTimeMs < out.baseEjectionTimeMs) {
    check.fail([...path, "maxEjectionTime"], "Envoy refuses a max_ejection_time smaller than base_ejection_time");
  }
  return { ...out, maxEjectionTimeMs };
}


export /** An errorRate names a share of the cluster's endpoints: it must come to a whole number of them. */
function checkErrorRates(
  check: Checker, raw: unknown, path: PathSegment[], clusters: Map<string, EnvoyClusterSpec>,
): void {
  if (!Array.isArray(raw)) return;
  raw.forEach((e, i) => {
    if (!isObj(e) || !("errorRate" in e) || typeof e.cluster !== "string") return;
    const rate = parseRate(e.errorRate);
    const n = clusters.get(e.cluster)?.endpoints;
    if (rate === undefined || n === undefined) return;
    const failing = rate * n;
    if (Math.abs(failing - Math.round(failing)) > 1e-9) {
      check.fail([...path, i, "errorRate"], `${String(e.errorRate)} of ${n} endpoints is not a whole number of endpoints (set envoy.clusters.${e.cluster}.endpoints or the policy's endpoints)`);
    }
  });
}
