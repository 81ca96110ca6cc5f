// Reads the policy document (JSON) into the model, collecting every problem with the exact path
// of the member at fault, e.g. `routes[1].destination.weights.c9: unknown cluster "c9"`.

import { asciiLower, itoa } from "../text";
import { JsonKind, JsonValue, parseJson, quote } from "../json";
import { isHeaderName, itemPath, join, listed } from "./reader";
import { RouteReader } from "./parse-route";
import { MAX_SOURCES } from "../health/record";
import {
  AggregateSpec, Assume, AssumeKind, ClusterSpec, HealthSpec, Locality, OutlierSpec, Policy,
} from "./model";

export class PolicyResult {
  policy: Policy | null = null;
  errors: Array<string> = [];
}

const MAX_CLUSTERS = 64;
/** Largest policy document (JSON bytes) the filter reads; a larger one is refused unread. */
export const MAX_POLICY_BYTES: u32 = 1 << 20;

export function parsePolicy(text: string): PolicyResult {
  const out = new PolicyResult();
  const parsed = parseJson(text.length == 0 ? "{}" : text);
  if (parsed.value === null) {
    out.errors.push("document: " + parsed.error);
    return out;
  }
  const r = new Reader();
  const policy = r.policy(parsed.value!);
  out.errors = r.errors;
  if (r.errors.length == 0) out.policy = policy;
  return out;
}

/** Reads the whole document; the routes (parse-route.ts) are read by the class it extends. */
class Reader extends RouteReader {
  policy(doc: JsonValue): Policy {
    const p = new Policy();
    if (!this.object(doc, "", ["routingHeader", "explainResponse", "seed", "locality", "clusters", "aggregates", "routes", "health", "assume"])) return p;
    p.routingHeader = asciiLower(this.str(doc, "routingHeader", "", p.routingHeader));
    if (!isHeaderName(p.routingHeader)) this.fail("routingHeader", "not a valid header name: " + quote(p.routingHeader));
    if (p.routingHeader.startsWith("x-failover-") && p.routingHeader != "x-failover-upstream") {
      this.fail("routingHeader", "x-failover-* names other than x-failover-upstream are the filter's explanation headers");
    }
    if (p.routingHeader.startsWith("x-envoy-") || p.routingHeader.startsWith("x-forwarded-") || listed(MEANINGFUL, p.routingHeader)) {
      this.fail("routingHeader", quote(p.routingHeader) + " has a meaning to Envoy or HTTP");
    }
    p.explainResponse = this.bool(doc, "explainResponse", "", false);
    if (doc.has("seed")) {
      p.seed = <u64>this.num(doc, "seed", "", 0, 0, 9007199254740991);
      p.hasSeed = true;
    }
    const loc = doc.get("locality");
    if (loc !== null) this.locality(loc, "locality", p.locality, p.localitySet);
    this.clusters(doc, p);
    this.aggregates(doc, p);
    const health = doc.get("health");
    if (health !== null) this.health(health, "health", p.health);
    this.routes(doc, p);
    const assume = doc.get("assume");
    if (assume !== null) this.assume(assume, "assume", p);
    return p;
  }

  locality(v: JsonValue, path: string, out: Locality, set: Array<string>): void {
    if (!this.object(v, path, ["region", "zone", "subzone", "cluster", "labels"])) return;
    const fields = ["region", "zone", "subzone", "cluster"];
    for (let i = 0; i < fields.length; i++) {
      if (!v.has(fields[i])) continue;
      const s = this.str(v, fields[i], path, "");
      if (fields[i] == "region") out.region = s;
      else if (fields[i] == "zone") out.zone = s;
      else if (fields[i] == "subzone") out.subzone = s;
      else out.cluster = s;
      set.push(fields[i]);
    }
    const labels = v.get("labels");
    if (labels !== null && this.object(labels, join(path, "labels"), labels.keys)) {
      for (let i = 0; i < labels.keys.length; i++) {
        const k = labels.keys[i];
        const lv = labels.get(k)!;
        if (!lv.isString) this.fail(join(join(path, "labels"), k), "expected a string, got " + lv.kindName());
        else out.labels.set(k, lv.str);
      }
      if (labels.keys.length > 0) set.push("labels");
    }
  }

  clusters(doc: JsonValue, p: Policy): void {
    const items = this.array(doc, "clusters", "");
    if (!doc.has("clusters")) this.fail("clusters", "required: the Envoy clusters the filter may name");
    else if (items.length == 0) this.fail("clusters", "must list at least one cluster");
    if (items.length > MAX_CLUSTERS) this.fail("clusters", "at most " + itoa(MAX_CLUSTERS) + " clusters");
    for (let i = 0; i < items.length && i < MAX_CLUSTERS; i++) {
      const path = itemPath("", "clusters", i);
      const v = items[i];
      if (!this.object(v, path, ["name", "region", "zone", "subzone", "cluster", "labels", "hosts", "endpoints", "weight"])) continue;
      const c = new ClusterSpec();
      c.index = p.clusters.length;
      c.name = this.name(v, path, "", true);
      if (c.name.length == 0 && v.has("name")) this.fail(join(path, "name"), "must not be empty");
      if (c.name.length > 0 && p.clusterIndex(c.name) >= 0) this.fail(join(path, "name"), "duplicate cluster " + quote(c.name));
      const set = new Array<string>();
      // The cluster's locality is written inline on the entry.
      const loc = new JsonValue();
      loc.kind = JsonKind.Object;
      const lf = ["region", "zone", "subzone", "cluster", "labels"];
      for (let j = 0; j < lf.length; j++) {
        if (v.has(lf[j])) { loc.keys.push(lf[j]); loc.values.set(lf[j], v.get(lf[j])!); }
      }
      this.locality(loc, path, c.locality, set);
      c.hosts = this.strings(v, "hosts", path);
      for (let j = 0; j < c.hosts.length; j++) c.hosts[j] = asciiLower(c.hosts[j]);
      c.endpoints = this.int(v, "endpoints", path, 1, 1, 1000000);
      c.weight = this.int(v, "weight", path, c.endpoints, 1, 1000000);
      p.clusters.push(c);
    }
  }

  aggregates(doc: JsonValue, p: Policy): void {
    const items = this.array(doc, "aggregates", "");
    for (let i = 0; i < items.length; i++) {
      const path = itemPath("", "aggregates", i);
      const v = items[i];
      if (!this.object(v, path, ["name", "clusters"])) continue;
      const a = new AggregateSpec();
      a.name = this.name(v, path, "", true);
      if (a.name.length > 0 && p.clusterIndex(a.name) >= 0) this.fail(join(path, "name"), "already an inventory cluster: " + quote(a.name));
      const names = this.strings(v, "clusters", path);
      if (names.length < 2) this.fail(join(path, "clusters"), "an aggregate needs at least two clusters, in failover order");
      for (let j = 0; j < names.length; j++) {
        const idx = p.clusterIndex(names[j]);
        if (idx < 0) this.fail(itemPath(path, "clusters", j), "unknown cluster " + quote(names[j]));
        else a.clusters.push(idx);
      }
      p.aggregates.push(a);
    }
  }

  health(v: JsonValue, path: string, h: HealthSpec): void {
    if (!this.object(v, path, [
      "overprovisioningFactor", "panicThreshold", "refreshInterval", "window", "minRequests", "latency",
      "slowStart", "probe", "hysteresis", "outlierDetection",
    ])) return;
    h.overprovisioning = <i32>Math.round(this.num(v, "overprovisioningFactor", path, 1.4, 0.01, 100) * 100);
    h.panicThreshold = this.num(v, "panicThreshold", path, 50, 0, 100);
    h.refreshMs = <u32>this.duration(v, "refreshInterval", path, 250, 10);
    h.windowMs = this.duration(v, "window", path, 10000, 100);
    h.minRequests = this.int(v, "minRequests", path, 5, 1, 100000);
    const lat = v.get("latency");
    if (lat !== null && this.object(lat, join(path, "latency"), ["weight", "tolerance"])) {
      h.latencyWeight = this.num(lat, "weight", join(path, "latency"), 0.5, 0, 1);
      h.latencyTolerance = this.num(lat, "tolerance", join(path, "latency"), 2, 1, 100);
    }
    h.slowStartMs = this.duration(v, "slowStart", path, 30000, 0);
    const probe = v.get("probe");
    if (probe !== null && this.object(probe, join(path, "probe"), ["percent", "successes"])) {
      h.probePercent = this.num(probe, "percent", join(path, "probe"), 1, 0, 50);
      h.probeSuccesses = this.int(probe, "successes", join(path, "probe"), 3, 1, 1000);
    }
    h.hysteresis = this.num(v, "hysteresis", path, 5, 0, 50);
    const od = v.get("outlierDetection");
    if (od !== null) this.outlier(od, join(path, "outlierDetection"), h);
  }

  outlier(v: JsonValue, path: string, h: HealthSpec): void {
    if (!this.object(v, path, [
      "consecutive5xx", "consecutiveGatewayErrors", "consecutiveLocalOriginFailures",
      "splitExternalLocalOriginErrors", "interval", "baseEjectionTime", "maxEjectionTime",
      "maxEjectionPercent", "minHealthPercent", "minSources",
    ])) return;
    const o: OutlierSpec = h.outlier;
    o.consecutive5xx = this.int(v, "consecutive5xx", path, 5, 0, 100000);
    o.consecutiveGatewayErrors = this.int(v, "consecutiveGatewayErrors", path, 0, 0, 100000);
    o.consecutiveLocalOriginFailures = this.int(v, "consecutiveLocalOriginFailures", path, 5, 0, 100000);
    o.splitExternalLocalOriginErrors = this.bool(v, "splitExternalLocalOriginErrors", path, false);
    o.intervalMs = this.duration(v, "interval", path, 10000, 1);
    o.baseEjectionMs = this.duration(v, "baseEjectionTime", path, 30000, 1);
    o.maxEjectionMs = this.duration(v, "maxEjectionTime", path, max<f64>(300000, o.baseEjectionMs), 1);
    if (o.maxEjectionMs < o.baseEjectionMs) this.fail(join(path, "maxEjectionTime"), "must not be shorter than baseEjectionTime");
    o.maxEjectionPercent = this.int(v, "maxEjectionPercent", path, 100, 0, 100);
    o.minSources = this.int(v, "minSources", path, 1, 1, MAX_SOURCES);
    // Istio turns minHealthPercent into Envoy's panic threshold; so do we.
    if (v.has("minHealthPercent")) h.panicThreshold = this.num(v, "minHealthPercent", path, 0, 0, 100);
  }

  assume(v: JsonValue, path: string, p: Policy): void {
    if (!this.object(v, path, v.keys)) return;
    for (let i = 0; i < v.keys.length; i++) {
      const name = v.keys[i];
      const ap = join(path, name);
      const idx = p.clusterIndex(name);
      if (idx < 0) {
        this.fail(ap, "unknown cluster " + quote(name));
        continue;
      }
      const e = v.get(name)!;
      if (!this.object(e, ap, ["healthy", "total", "score", "ejected"])) continue;
      const a = new Assume();
      if (e.has("ejected")) {
        a.kind = AssumeKind.Ejected;
        if (!this.bool(e, "ejected", ap, true)) a.kind = AssumeKind.Score;
      } else if (e.has("score")) {
        a.kind = AssumeKind.Score;
        a.score = this.num(e, "score", ap, 100, 0, 100);
      } else if (e.has("healthy")) {
        a.kind = AssumeKind.Counts;
        a.total = this.int(e, "total", ap, p.clusters[idx].endpoints, 1, 1000000);
        a.healthy = <f64>this.int(e, "healthy", ap, 0, 0, a.total);
        if (a.healthy > <f64>a.total) this.fail(join(ap, "healthy"), "more healthy than total");
      } else {
        this.fail(ap, "give healthy (and total), score, or ejected");
      }
      p.clusters[idx].assume = a;
    }
  }
}

/**
 * Headers a routing header must not be: they already carry meaning to Envoy or to HTTP. (One
 * string, not a list of them: each string literal costs the module some 20 bytes on its own.)
 */
const MEANINGFUL = "host, cookie, set-cookie, authorization, proxy-authorization, content-length, content-type, " +
  "transfer-encoding, te, connection, keep-alive, proxy-connection, upgrade, expect, via, x-request-id";
