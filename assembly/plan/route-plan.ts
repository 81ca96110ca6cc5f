// The decision pipeline's product: one immutable plan per route, rebuilt on every refresh and
// swapped in whole (as grpc-js replaces its picker), so a request reads one consistent snapshot
// and keeps it to the end. Everything a request needs is prepared here: cumulative points for
// the pick, the texts of the explanation headers.

import { ClusterHealth } from "./health";
import { RoutePriorities } from "./priorities";
import { RouteSplit } from "./split";
import { hostMatches } from "../policy/match";
import { Mode, Policy, RouteSpec } from "../policy/model";
import { concat, formatNumber, itoa } from "../text";

export class RoutePlan {
  spec: RouteSpec;
  prio: RoutePriorities;
  split: RouteSplit;
  /** Per candidate: the running sum of basis points (the last is 10000, or 0 with no share). */
  cumulative: Array<i32>;
  priorityText: Array<string>;
  scoreText: Array<string>;
  /** The decision header up to its split: "route=r cluster=c priority=0 reason=local score=100 split=". */
  decision: Array<string>;
  /** The split as the decision header ends with it ("c1:100.00,c2:0.00"). */
  splitText: string = "";
  /** HMAC keys of the affinity cookie: the policy's secrets, or the proxy's own key. */
  cookieKeys: Array<StaticArray<u8>>;

  constructor(spec: RouteSpec, prio: RoutePriorities, split: RouteSplit, clusters: Array<ClusterHealth>, ownKey: Array<StaticArray<u8>>) {
    this.spec = spec;
    this.prio = prio;
    this.split = split;
    const n = spec.clusters.length;
    this.cumulative = new Array<i32>(n);
    this.priorityText = new Array<string>(n);
    this.scoreText = new Array<string>(n);
    this.decision = new Array<string>(n);
    this.cookieKeys = spec.affinity.cookieKeys.length > 0 ? spec.affinity.cookieKeys : ownKey;
    const parts: Array<string> = [];
    let cum = 0;
    for (let i = 0; i < n; i++) {
      cum += split.bp[i];
      this.cumulative[i] = cum;
      const c = clusters[spec.clusters[i]];
      this.priorityText[i] = spec.mode == Mode.Weighted ? "0" : itoa(prio.level[i]);
      this.scoreText[i] = formatNumber(c.score);
      parts.push((i > 0 ? "," : "") + c.spec.name + ":" + percentText(split.bp[i]));
    }
    // The split is appended per request (stream.ts): prepared into every candidate's decision it
    // made refreshes quadratic in a route's clusters, too much for a policy at its limits.
    this.splitText = concat(parts);
    for (let i = 0; i < n; i++) {
      this.decision[i] = "route=" + spec.name + " cluster=" + clusters[spec.clusters[i]].spec.name +
        " priority=" + this.priorityText[i] + " reason=" + split.reason[i] + " score=" + this.scoreText[i] + " split=";
    }
  }
}

/** Every route's plan of one refresh, for one policy. */
export class PlanSet {
  constructor(public policy: Policy, public routes: Array<RoutePlan>) {}

  /** The plan of the first route matching host (lower case, no port) and path, or null. */
  match(host: string, path: string): RoutePlan | null {
    for (let r = 0; r < this.routes.length; r++) {
      const spec = this.routes[r].spec;
      const prefix = spec.pathPrefix;
      // Most prefixes a path passes differ from it in the two characters after their "/": those
      // are compared as one word before the prefix test (a path with the prefix has them too).
      // String#startsWith alone cost about 40 ns per route passed (BENCHMARKS: cost vs routes).
      if (prefix.length >= 3 && (path.length < 3 || load<u32>(changetype<usize>(prefix) + 2) != load<u32>(changetype<usize>(path) + 2))) continue;
      if (prefix.length > 0 && !path.startsWith(prefix)) continue;
      if (!hostMatches(spec.authority, host)) continue;
      return this.routes[r];
    }
    return null;
  }
}

/** Basis points as a percentage with two decimals (9950 -> "99.50"). */
export function percentText(bp: i32): string {
  const frac = bp % 100;
  return itoa((bp / 100)) + "." + (frac < 10 ? "0" : "") + itoa(frac);
}
