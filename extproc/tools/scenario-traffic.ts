// A simulate case's own parts: the request shapes, the traffic, each upstream's base latency and
// the failure events over time.

import type { PathSegment } from "../module/policy-file.js";
import { Checker, isObj, parseRate, Picked } from "./scenario-checker.js";
import { DOWN_MODES, DownMode, RequestSpec, Traffic, UpstreamEvent } from "./scenario-types.js";

const DEFAULT_LATENCY_MS = 5;

export function requestsOf(check: Checker, picked: Picked | undefined): RequestSpec[] {
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


export function trafficOf(check: Checker, v: unknown, path: PathSegment[]): Traffic | undefined {
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


export function upstreamsOf(check: Checker, picked: Picked | undefined, known: string[]): Map<string, number> {
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


export function eventsOf(check: Checker, v: unknown, path: PathSegment[], known: string[]): UpstreamEvent[] {
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
