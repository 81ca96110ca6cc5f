// The published plan (docs/interface.md; its members are listed in ../shared.ts): every route's
// priorities, split and reasons, and every cluster's health, as JSON for the tools and the
// sidecar's debug endpoint.

import { quote } from "../json";
import { AffinityKind, Locality, Mode } from "../policy/model";
import { formatNumber, itoa } from "../text";
import { ClusterHealth } from "./health";
import { PlanSet, percentText } from "./route-plan";

/** The plan as UTF-8 JSON. */
export function planJson(set: PlanSet, clusters: Array<ClusterHealth>, proxy: Locality, generation: u32, nowMs: i64): ArrayBuffer {
  // Pieces encoded once at the end: growing one string by += copies it per piece (and so
  // does Array#join at shrinkLevel 1), quadratic in routes x clusters: a policy at its limits
  // then ran out of memory.
  const aggregates = set.policy.aggregates;
  const s: Array<string> = [];
  s.push("{\"generation\":" + itoa(generation) + ",\"timeMs\":" + itoa(nowMs) +
    ",\"locality\":{\"region\":" + quote(proxy.region) + ",\"zone\":" + quote(proxy.zone) +
    ",\"subzone\":" + quote(proxy.subzone) + ",\"cluster\":" + quote(proxy.cluster) + "},\"routes\":[");
  for (let r = 0; r < set.routes.length; r++) {
    const plan = set.routes[r];
    const spec = plan.spec;
    const prio = plan.prio;
    const split = plan.split;
    const load = split.load;
    if (r > 0) s.push(",");
    s.push("{\"name\":" + quote(spec.name) + ",\"mode\":" + quote(modeName(spec.mode)) +
      ",\"panic\":" + jsonBool(spec.mode != Mode.Weighted && load.totalPanic) +
      ",\"affinity\":" + quote(affinityName(spec.affinity.kind)) + ",\"priorities\":[");
    if (spec.mode != Mode.Weighted) {
      for (let p = 0; p < prio.levels; p++) {
        if (p > 0) s.push(",");
        s.push("{\"priority\":" + itoa(p) + ",\"health\":" + itoa(load.health[p]) + ",\"load\":" +
          itoa(load.load[p]) + ",\"panic\":" + jsonBool(load.panic[p]) + ",\"clusters\":[");
        let first = true;
        for (let i = 0; i < spec.clusters.length; i++) {
          if (prio.level[i] != p) continue;
          s.push((first ? "" : ",") + quote(clusters[spec.clusters[i]].spec.name));
          first = false;
        }
        s.push("]}");
      }
    }
    s.push("],\"split\":{");
    for (let i = 0; i < spec.clusters.length; i++) {
      s.push(comma(i) + quote(clusters[spec.clusters[i]].spec.name) + ":" + percentText(split.bp[i]));
    }
    s.push("},\"clusters\":[");
    for (let i = 0; i < spec.clusters.length; i++) {
      const c = clusters[spec.clusters[i]];
      const via = prio.aggregate[i];
      s.push(comma(i) + "{\"name\":" + quote(c.spec.name) + ",\"priority\":" + plan.priorityText[i] +
        ",\"share\":" + percentText(split.bp[i]) + ",\"score\":" + plan.scoreText[i] + ",\"ejected\":" + jsonBool(c.ejected) +
        ",\"reason\":" + quote(split.reason[i]) + (via >= 0 ? ",\"via\":" + quote(aggregates[via].name) : "") + "}");
    }
    s.push("]}");
  }
  s.push("],\"clusters\":[");
  for (let i = 0; i < clusters.length; i++) {
    const c = clusters[i];
    s.push(comma(i) + "{\"name\":" + quote(c.spec.name) + ",\"score\":" + formatNumber(c.score) +
      ",\"ejected\":" + jsonBool(c.ejected) + ",\"ejections\":" + itoa(c.ejections) +
      ",\"requests\":" + itoa(c.requests) + ",\"failures\":" + itoa(c.failures) +
      ",\"latencyMs\":" + formatNumber(c.latencyMs) + ",\"baselineMs\":" + formatNumber(c.baselineMs) +
      ",\"assumed\":" + jsonBool(c.assumed) + healthFrom(c) + "}");
  }
  s.push("]}");
  return utf8Concat(s);
}

/** JSON's literal for `b`. */
function jsonBool(b: bool): string { return b ? "true" : "false"; }

/** The separator before item `i` of a list. */
function comma(i: i32): string { return i > 0 ? "," : ""; }

/** Where the cluster's healthy share comes from (issue 15): Envoy's endpoints, the success rate, or the policy. */
function healthFrom(c: ClusterHealth): string {
  if (c.seenEndpoints == 0) return ",\"healthFrom\":\"" + (c.assumed ? "assumed" : "success-rate") + "\"";
  return ",\"healthFrom\":\"endpoints\",\"endpoints\":" + itoa(<i32>c.total) + ",\"ejectedEndpoints\":" + itoa(c.ejectedEndpoints);
}

function modeName(m: Mode): string {
  return m == Mode.Auto ? "auto" : m == Mode.Named ? "named" : "weighted";
}

function affinityName(k: AffinityKind): string {
  return k == AffinityKind.Header ? "header" : k == AffinityKind.Cookie ? "cookie" : k == AffinityKind.SourceIp ? "sourceIp" : "none";
}

/** The UTF-8 bytes of the concatenated pieces, in linear time. */
function utf8Concat(parts: Array<string>): ArrayBuffer {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += String.UTF8.byteLength(parts[i]);
  const out = new ArrayBuffer(n);
  let at = changetype<usize>(out);
  for (let i = 0; i < parts.length; i++) at += String.UTF8.encodeUnsafe(changetype<usize>(parts[i]), parts[i].length, at);
  return out;
}
