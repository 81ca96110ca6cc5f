// A scenario file: a policy, where the proxy runs, and what to ask of the module: what-if health
// states for `failover plan` and traffic with failure events for `failover simulate`. Each case
// inherits the scenario's top-level `policy`, `locality`, `assume`, `requests` and `upstreams`
// and may override them. The format is documented in scenarios/README.md.
//
// This file checks only the scenario's own fields. The policy is checked by the module itself when
// it is configured (tools never second-guess it); the module's error paths are traced back to the
// file and line that wrote them through `where`.

import { dirname, resolve } from "node:path";
import { DocumentError, LoadedDocument, PathSegment, loadDocument } from "../module/policy-file.js";
import { isObject, policyNames } from "../module/policy-names.js";
import { LB_POLICIES, LbPolicy } from "./simulate/balancer.js";
import { DEFAULT_MAX_EJECTION_TIME_MS, OUTLIER_DEFAULTS, OutlierConfig } from "./simulate/outlier.js";

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

interface CaseCommon {
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

const DEFAULT_LATENCY_MS = 5;
/** Envoy's default for circuit_breakers.thresholds.max_retries. */
const ENVOY_DEFAULT_MAX_RETRIES = 3;

const ENVOY_DEFAULT_PANIC_THRESHOLD = 50;

const TOP_FIELDS = ["description", "policy", "locality", "assume", "requests", "upstreams", "envoy", "plan", "simulate"];
const PLAN_FIELDS = ["name", "description", "policy", "locality", "assume", "requests"];
const SIMULATE_FIELDS = [...PLAN_FIELDS, "upstreams", "traffic", "events", "envoy"];

type Obj = Record<string, unknown>;
const isObj = isObject;
const show = (path: readonly PathSegment[]) =>
  path.map((s, i) => (typeof s === "number" ? `[${s}]` : i ? `.${s}` : s)).join("") || "document";

/** Collects every problem in the scenario file, each with its line and path. */
class Checker {
  readonly errors: string[] = [];
  constructor(readonly doc: LoadedDocument) {}

  fail(path: readonly PathSegment[], message: string): void {
    this.errors.push(`${this.doc.where(path)}: ${show(path)}: ${message}`);
  }

  fields(v: unknown, path: PathSegment[], allowed: readonly string[]): v is Obj {
    if (!isObj(v)) {
      this.fail(path, "expected a mapping");
      return false;
    }
    for (const k of Object.keys(v)) if (!allowed.includes(k)) this.fail([...path, k], `unknown field (expected one of: ${allowed.join(", ")})`);
    return true;
  }

  string(v: unknown, path: PathSegment[]): string | undefined {
    if (typeof v === "string" && v !== "") return v;
    this.fail(path, "expected a non-empty string");
    return undefined;
  }

  duration(v: unknown, path: PathSegment[]): number | undefined {
    const ms = parseDuration(v);
    if (ms === undefined) this.fail(path, 'expected a duration such as "500ms", "90s" or "2m"');
    return ms;
  }
}

/** "500ms", "90s", "2m", "1h", or a number of milliseconds; undefined otherwise. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

/** A share such as 0.25, "4/14" or "25%"; undefined when not in 0..1. */
export function parseRate(v: unknown): number | undefined {
  let r: number | undefined;
  if (typeof v === "number") r = v;
  else if (typeof v === "string") {
    const frac = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(v);
    const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (frac && Number(frac[2]) > 0) r = Number(frac[1]) / Number(frac[2]);
    else if (pct) r = Number(pct[1]) / 100;
  }
  return r !== undefined && r >= 0 && r <= 1 ? r : undefined;
}

/** Where a policy document lives: its own file, or a mapping inside the scenario. */
interface PolicySource {
  doc: LoadedDocument;
  base: PathSegment[];
  value: Obj;
}

/** A case from its policy: the routing header, clusters and aggregates read off the config. */
function caseOf(c: Pick<CaseCommon, "scenario" | "name" | "description" | "config" | "where" | "requests">): CaseCommon {
  const names = policyNames(c.config);
  return { ...c, routingHeader: names.routingHeader, clusters: names.clusters, aggregates: new Map(names.aggregates.map((a) => [a.name, a.clusters])) };
}

/** True when `file` is a policy document rather than a scenario (it has no scenario fields). */
export function isBarePolicy(file: string): boolean {
  const top = loadDocument(file).value;
  return !("policy" in top || "plan" in top || "simulate" in top);
}

/**
 * A plan case straight from a policy file, with health taken as given (`failover plan POLICY
 * --assume cluster-2=5/14`); an assumption given on the command line replaces the file's own.
 */
export function policyPlanCase(file: string, assume: Obj): PlanCase {
  const doc = loadDocument(file);
  const config: Obj = { ...doc.value };
  const given = Object.keys(assume);
  if (given.length) config.assume = { ...(isObj(doc.value.assume) ? doc.value.assume : {}), ...assume };
  const where = (path: readonly PathSegment[]) =>
    path[0] === "assume" && given.includes(String(path[1])) ? `--assume ${String(path[1])}` : doc.where(path);
  const name = given.length ? `assuming ${given.map((k) => `${k} ${describeAssumption(assume[k])}`).join(", ")}` : "as written";
  return caseOf({ scenario: file, name, description: "", config, where, requests: [] });
}

function describeAssumption(a: unknown): string {
  const o = a as { healthy?: number; total?: number; score?: number; ejected?: boolean };
  if (o.ejected) return "ejected";
  if (o.score !== undefined) return `score ${o.score}`;
  return `${o.healthy}/${o.total} healthy`;
}

export function loadScenario(file: string): Scenario {
  const doc = loadDocument(file);
  const check = new Checker(doc);
  const top = doc.value;
  check.fields(top, [], TOP_FIELDS);
  const policies = new Map<string, LoadedDocument>();

  /** The value of `key` for a case: the case's own, else the scenario's; with its path. */
  const pick = (c: Obj, cpath: PathSegment[], key: string): { value: unknown; path: PathSegment[] } | undefined => {
    if (key in c) return { value: c[key], path: [...cpath, key] };
    if (key in top) return { value: top[key], path: [key] };
    return undefined;
  };

  const policyOf = (c: Obj, cpath: PathSegment[]): PolicySource | undefined => {
    const p = pick(c, cpath, "policy");
    if (!p) {
      check.fail(cpath, "no policy: set `policy` on the case or at the top of the scenario");
      return undefined;
    }
    if (isObj(p.value)) return { doc, base: p.path, value: p.value };
    if (typeof p.value !== "string") {
      check.fail(p.path, "expected a policy (a mapping) or the path of a policy file");
      return undefined;
    }
    const target = resolve(dirname(file), p.value);
    let loaded = policies.get(target);
    if (!loaded) {
      try {
        loaded = loadDocument(target);
      } catch (e) {
        if (!(e instanceof DocumentError)) throw e;
        check.errors.push(`${doc.where(p.path)}: ${show(p.path)}: ${e.message}`);
        return undefined;
      }
      policies.set(target, loaded);
    }
    return { doc: loaded, base: [], value: loaded.value };
  };

  const common = (c: Obj, cpath: PathSegment[]): CaseCommon | undefined => {
    const name = check.string(c.name, [...cpath, "name"]) ?? "";
    const description = c.description === undefined ? "" : (check.string(c.description, [...cpath, "description"]) ?? "");
    const source = policyOf(c, cpath);
    const locality = pick(c, cpath, "locality");
    if (locality && !isObj(locality.value)) check.fail(locality.path, "expected a mapping (region, zone, subzone, cluster, labels)");
    const assume = pick(c, cpath, "assume");
    if (assume && !isObj(assume.value)) check.fail(assume.path, "expected a mapping: cluster -> {healthy, total} | {score} | {ejected}");
    const requests = requestsOf(check, pick(c, cpath, "requests"));
    if (!source) return undefined;

    const config: Obj = { ...source.value };
    if (locality && isObj(locality.value)) config.locality = locality.value;
    const assumed = assume && isObj(assume.value) ? assume.value : {};
    if (Object.keys(assumed).length) config.assume = { ...(isObj(source.value.assume) ? source.value.assume : {}), ...assumed };

    const where = (path: readonly PathSegment[]): string => {
      if (path[0] === "locality" && locality) return doc.where([...locality.path, ...path.slice(1)]);
      if (path[0] === "assume" && assume && (path.length === 1 || String(path[1]) in assumed)) {
        return doc.where([...assume.path, ...path.slice(1)]);
      }
      return source.doc.where([...source.base, ...path]);
    };
    return caseOf({ scenario: file, name, description, config, where, requests });
  };

  const list = (key: "plan" | "simulate"): Obj[] => {
    const v = top[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      check.fail([key], "expected a list of cases");
      return [];
    }
    return v;
  };

  const plan: PlanCase[] = [];
  list("plan").forEach((c, i) => {
    if (!check.fields(c, ["plan", i], PLAN_FIELDS)) return;
    const base = common(c, ["plan", i]);
    if (base) plan.push(base);
  });

  const simulate: SimulateCase[] = [];
  list("simulate").forEach((c, i) => {
    const cpath: PathSegment[] = ["simulate", i];
    if (!check.fields(c, cpath, SIMULATE_FIELDS)) return;
    const base = common(c, cpath);
    const traffic = trafficOf(check, c.traffic, [...cpath, "traffic"]);
    if (!base) return; // without a policy there are no clusters to check the rest against
    const latencyMs = upstreamsOf(check, pick(c, cpath, "upstreams"), base.clusters);
    const events = eventsOf(check, c.events, [...cpath, "events"], base.clusters);
    const envoy = envoyOf(check, pick(c, cpath, "envoy"), base.clusters, base.config);
    checkErrorRates(check, c.events, [...cpath, "events"], envoy.clusters);
    if (base.requests.length === 0) check.fail(cpath, "a simulation needs `requests` (at least one request shape)");
    if (traffic) simulate.push({ ...base, traffic, latencyMs, events, maxConcurrentRetries: envoy.maxRetries, envoyClusters: envoy.clusters });
  });

  if (!check.errors.length && plan.length === 0 && simulate.length === 0) {
    check.fail([], "nothing to run: add `plan` or `simulate` cases");
  }
  // Shared values are checked once per case that inherits them: report each problem once.
  if (check.errors.length) throw new DocumentError([...new Set(check.errors)].join("\n"));
  return { file, description: typeof top.description === "string" ? top.description : "", plan, simulate };
}

function requestsOf(check: Checker, picked: { value: unknown; path: PathSegment[] } | undefined): RequestSpec[] {
  if (!picked) return [];
  if (!Array.isArray(picked.value)) {
    check.fail(picked.path, "expected a list of requests ({authority, path, method, headers})");
    return [];
  }
  const out: RequestSpec[] = [];
  picked.value.forEach((r, i) => {
    const path = [...picked.path, i];
    if (!check.fields(r, path, ["authority", "path", "method", "headers"])) return;
    const headers: [string, string][] = [];
    if (r.headers !== undefined && !isObj(r.headers)) check.fail([...path, "headers"], "expected a mapping: name -> value");
    for (const [k, v] of Object.entries(isObj(r.headers) ? r.headers : {})) {
      if (typeof v === "string" || typeof v === "number") headers.push([k.toLowerCase(), String(v)]);
      else check.fail([...path, "headers", k], "expected a string");
    }
    const authority = check.string(r.authority, [...path, "authority"]);
    const p = r.path === undefined ? "/" : check.string(r.path, [...path, "path"]);
    const method = r.method === undefined ? "GET" : check.string(r.method, [...path, "method"]);
    if (authority && p && method) out.push({ method, authority, path: p, headers });
  });
  return out;
}

function trafficOf(check: Checker, v: unknown, path: PathSegment[]): Traffic | undefined {
  if (v === undefined) {
    check.fail(path, "required: {rate, duration}");
    return undefined;
  }
  if (!check.fields(v, path, ["rate", "duration", "interval", "clients"])) return undefined;
  const rate = v.rate;
  if (typeof rate !== "number" || !(rate > 0) || rate > 100_000) check.fail([...path, "rate"], "expected requests per second (0 < rate <= 100000)");
  const durationMs = check.duration(v.duration, [...path, "duration"]);
  const intervalMs = v.interval === undefined ? 1000 : check.duration(v.interval, [...path, "interval"]);
  if (intervalMs === 0) check.fail([...path, "interval"], "must be above 0");
  const clients = v.clients ?? 100;
  if (!Number.isInteger(clients) || (clients as number) < 1) check.fail([...path, "clients"], "expected a whole number >= 1");
  if (typeof rate !== "number" || durationMs === undefined || !intervalMs) return undefined;
  return { rate, durationMs, intervalMs, clients: clients as number };
}

function upstreamsOf(check: Checker, picked: { value: unknown; path: PathSegment[] } | undefined, known: string[]): Map<string, number> {
  const out = new Map(known.map((c) => [c, DEFAULT_LATENCY_MS]));
  if (!picked) return out;
  if (!isObj(picked.value)) {
    check.fail(picked.path, "expected a mapping: cluster -> {latency}");
    return out;
  }
  for (const [cluster, spec] of Object.entries(picked.value)) {
    const path = [...picked.path, cluster];
    if (!known.includes(cluster)) {
      check.fail(path, `not a cluster of the policy (${known.join(", ")})`);
      continue;
    }
    if (!check.fields(spec, path, ["latency"])) continue;
    const ms = spec.latency === undefined ? DEFAULT_LATENCY_MS : check.duration(spec.latency, [...path, "latency"]);
    if (ms !== undefined) out.set(cluster, ms);
  }
  return out;
}

function eventsOf(check: Checker, v: unknown, path: PathSegment[], known: string[]): UpstreamEvent[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    check.fail(path, "expected a list of events");
    return [];
  }
  const out: UpstreamEvent[] = [];
  v.forEach((e, i) => {
    const ep = [...path, i];
    if (!check.fields(e, ep, ["at", "cluster", "down", "errorRate", "latency", "recover", "note"])) return;
    const atMs = check.duration(e.at, [...ep, "at"]);
    const cluster = check.string(e.cluster, [...ep, "cluster"]);
    if (cluster && !known.includes(cluster)) check.fail([...ep, "cluster"], `not a cluster of the policy (${known.join(", ")})`);
    const note = typeof e.note === "string" ? e.note : undefined;
    const kinds = ["down", "errorRate", "latency", "recover"].filter((k) => k in e);
    if (kinds.length !== 1) {
      check.fail(ep, "give exactly one of down, errorRate, latency, recover");
      return;
    }
    if (atMs === undefined || !cluster) return;
    const base = { atMs, cluster, note };
    if ("down" in e) {
      if (DOWN_MODES.includes(e.down as DownMode)) out.push({ ...base, kind: "down", mode: e.down as DownMode });
      else check.fail([...ep, "down"], `expected one of: ${DOWN_MODES.join(", ")}`);
    } else if ("errorRate" in e) {
      const rate = parseRate(e.errorRate);
      if (rate === undefined) check.fail([...ep, "errorRate"], 'expected a share of endpoints failing: 0.25, "4/14" or "25%"');
      else out.push({ ...base, kind: "errorRate", rate });
    } else if ("latency" in e) {
      const latencyMs = check.duration(e.latency, [...ep, "latency"]);
      if (latencyMs !== undefined) out.push({ ...base, kind: "latency", latencyMs });
    } else if (e.recover === true) {
      out.push({ ...base, kind: "recover" });
    } else {
      check.fail([...ep, "recover"], "expected true");
    }
  });
  return out.sort((a, b) => a.atMs - b.atMs);
}

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
function envoyOf(
  check: Checker, picked: { value: unknown; path: PathSegment[] } | undefined, known: string[], config: Obj,
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

/** An errorRate names a share of the cluster's endpoints: it must come to a whole number of them. */
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
