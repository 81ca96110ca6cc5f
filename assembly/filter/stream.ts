// One HTTP request: strip what a client must not set, pick the cluster (affinity-stable, or by
// the route's split), name it in the routing header, set the route's retry policy and explain
// the choice; on the way back, explain it on the response and issue the affinity cookie; at the
// end, feed the outcome into the cluster's health.

import {
  HeadersStatus, HttpContext, MapType, RootContext, getHeader, getHeaderValues, getPropertyInt, getPropertyString,
  nowNanos, removeHeader, replaceHeader, addHeader,
} from "../abi";
import { asciiLower, itoa, trimSpaces } from "../text";
import { Outcome } from "../health/record";
import { AffinityKind, Policy } from "../policy/model";
import { checkCookie, cookieId, hex16, signCookie } from "../affinity/cookie";
import { Picker, fnv1a } from "../plan/pick";
import { RoutePlan } from "../plan/route-plan";
import {
  EXPLANATION_HEADERS as EXPLAIN, FLAG_DC, FLAG_DPE, FLAG_DR, FLAG_LR, FLAG_UC, FLAG_UF, FLAG_UH, FLAG_UO, FLAG_UR,
  FLAG_UT, RETRY_HEADERS as RETRY,
} from "../shared";
import { OutcomeRecorder } from "./recorder";

// Positions in EXPLAIN and RETRY.
const CLUSTER = 0, PRIORITY = 1, REASON = 2, SCORE = 3, DECISION = 4;
const RETRY_ON = 0, MAX_RETRIES = 1, PER_TRY_TIMEOUT = 2, RETRIABLE_CODES = 3, NEVER_SET = 4;

const MAX_ATTEMPTS: i64 = 101;

export class FailoverStream extends HttpContext {
  /** The policy and the plan of this request's route, fixed when its headers arrived. */
  policy: Policy | null = null;
  plan: RoutePlan | null = null;
  candidate: i32 = -1;
  cluster: i32 = -1;
  aggregate: i32 = -1;
  reason: string = "";
  startMs: i64 = 0;
  newCookie: string = "";

  constructor(id: u32, root: RootContext, private picker: Picker, private recorder: OutcomeRecorder) {
    super(id, root);
  }

  // Host calls of this stream, by what they do.
  requestHeader(name: string): string | null { return getHeader(MapType.HttpRequestHeaders, name); }
  setRequestHeader(name: string, value: string): void { replaceHeader(MapType.HttpRequestHeaders, name, value); }
  removeRequestHeader(name: string): void { removeHeader(MapType.HttpRequestHeaders, name); }
  removeRequestHeaders(names: Array<string>, from: i32): void {
    for (let i = from; i < names.length; i++) this.removeRequestHeader(names[i]);
  }

  onRequestHeaders(headers: u32, endOfStream: bool): HeadersStatus {
    const plans = this.picker.plans;
    if (plans === null) return HeadersStatus.Continue;
    const p = plans.policy;
    let host = this.requestHeader(":authority");
    if (host === null) host = this.requestHeader("host");
    const path = this.requestHeader(":path");
    const authority = host === null ? "" : host!;
    // An authority whose port is not a port matches no route (else "svc:abc" would be "svc").
    const h = hostOnly(authority);
    const plan: RoutePlan | null = h === null ? null : plans.match(h!, path === null ? "/" : path!);
    this.recorder.decided();
    // Every header the filter owns is either replaced below (a replace drops all of a client's
    // copies) or removed here, so a client's value never reaches the router or the upstream.
    if (plan === null) {
      this.removeRequestHeader(p.routingHeader);
      this.removeRequestHeaders(EXPLAIN, 0);
      this.removeRequestHeaders(RETRY, 0);
      this.setRequestHeader(EXPLAIN[REASON], "no-route");
      this.recorder.unrouted();
      return HeadersStatus.Continue;
    }
    const nowMs = <i64>(nowNanos() / 1000000);
    this.policy = p;
    this.plan = plan;
    this.startMs = nowMs;

    const key = this.affinityKey(plan, nowMs);
    const i = key.length > 0 ? this.picker.affinity(plan, key) : this.picker.random(plan);
    this.candidate = i;
    this.cluster = plan.spec.clusters[i];
    this.aggregate = plan.prio.aggregate[i];
    this.reason = key.length > 0 && !plan.split.probe[i] ? "affinity" : plan.split.reason[i];

    this.setRequestHeader(p.routingHeader, this.aggregate >= 0 ? p.aggregates[this.aggregate].name : p.clusters[this.cluster].name);
    this.explain(MapType.HttpRequestHeaders);

    const retry = plan.spec.retry;
    if (retry === null) {
      this.removeRequestHeaders(RETRY, 0);
    } else {
      const exhausted = this.recorder.retriesExhausted(plan, nowMs);
      this.setRequestHeader(RETRY[RETRY_ON], retry.retryOn);
      this.setRequestHeader(RETRY[MAX_RETRIES], exhausted ? "0" : itoa(retry.numRetries));
      if (retry.perTryTimeoutMs > 0) this.setRequestHeader(RETRY[PER_TRY_TIMEOUT], itoa((<i64>retry.perTryTimeoutMs)));
      else this.removeRequestHeader(RETRY[PER_TRY_TIMEOUT]);
      if (retry.retriableStatusCodes.length > 0) this.setRequestHeader(RETRY[RETRIABLE_CODES], retry.retriableStatusCodes);
      else this.removeRequestHeader(RETRY[RETRIABLE_CODES]);
      this.removeRequestHeaders(RETRY, NEVER_SET);
    }

    this.recorder.chose(plan, i);
    return HeadersStatus.Continue;
  }

  /**
   * In the hybrid form the sidecar, after us, may name another cluster in the routing header;
   * Envoy used the final value, so the outcome belongs to that one.
   */
  followFinalChoice(p: Policy): void {
    const named = this.requestHeader(p.routingHeader);
    if (named === null) return;
    const mine = this.aggregate >= 0 ? p.aggregates[this.aggregate].name : p.clusters[this.cluster].name;
    if (named! == mine) return;
    const found = resolve(p, named!);
    if (found[1] >= 0) {
      this.aggregate = found[1];
      this.cluster = p.aggregates[found[1]].clusters[0];
    } else if (found[0] >= 0) {
      this.aggregate = -1;
      this.cluster = found[0];
    }
  }

  /** The affinity key of this request, or "" (then the split decides). */
  affinityKey(plan: RoutePlan, nowMs: i64): string {
    const a = plan.spec.affinity;
    if (a.kind == AffinityKind.Header) {
      const v = this.requestHeader(a.header);
      return v === null ? "" : v!;
    }
    if (a.kind == AffinityKind.Cookie) {
      // The cluster follows from an id the filter chose and signed, not the reverse: a cookie
      // that does not check out (forged, altered, expired, unsigned) is ignored and a fresh one
      // issued; one signed with a previous secret keeps its id under the current secret.
      // Every cookie header counts: an HTTP/1.1 client may send several, and Envoy's HTTP/1
      // codec keeps them apart (only its HTTP/2 codec joins crumbs into one).
      const all = getHeaderValues(MapType.HttpRequestHeaders, "cookie");
      let v = "";
      for (let i = 0; i < all.length && v.length == 0; i++) v = cookieValue(all[i], a.cookieName);
      const keys = plan.cookieKeys;
      const nowS = <u32>(nowMs / 1000); // the request's one clock read
      const k = checkCookie(keys, v, nowS, a.cookieTtlS);
      const id = k >= 0 ? cookieId : <u32>this.picker.nextRandom();
      if (k != 0) this.newCookie = signCookie(keys[0], id, nowS);
      return hex16(<u64>id);
    }
    if (a.kind == AffinityKind.SourceIp) {
      const addr = getPropertyString(["source", "address"]);
      if (addr === null) return "";
      const h = hostOnly(addr!);
      return h === null ? addr! : h!;
    }
    return "";
  }

  /** The explanation headers, on the request (for the upstream) or the response (for the client). */
  explain(map: MapType): void {
    const plan = this.plan!;
    const i = this.candidate;
    replaceHeader(map, EXPLAIN[CLUSTER], this.policy!.clusters[this.cluster].name);
    replaceHeader(map, EXPLAIN[PRIORITY], plan.priorityText[i]);
    replaceHeader(map, EXPLAIN[REASON], this.reason);
    replaceHeader(map, EXPLAIN[SCORE], plan.scoreText[i]);
    // The split is the decision's tail, encoded after it rather than joined to it per request
    // (it grows with the route's clusters).
    replaceHeader(map, EXPLAIN[DECISION], plan.decision[i], plan.splitText, this.reason == plan.split.reason[i] ? "" : " via=" + this.reason);
  }

  onResponseHeaders(headers: u32, endOfStream: bool): HeadersStatus {
    if (this.plan === null) return HeadersStatus.Continue;
    if (this.policy!.explainResponse) this.explain(MapType.HttpResponseHeaders);
    if (this.newCookie.length > 0) {
      const a = this.plan!.spec.affinity;
      addHeader(MapType.HttpResponseHeaders, "set-cookie", a.cookieName + "=" + this.newCookie + "; Max-Age=" +
        itoa(a.cookieTtlS) + "; Path=" + a.cookiePath + "; HttpOnly; SameSite=Lax");
    }
    return HeadersStatus.Continue;
  }

  onLog(): void {
    if (this.plan === null) return;
    const p = this.policy!;
    const recorder = this.recorder;
    // A request from before a reload: its route and cluster indices are the old policy's.
    if (p !== recorder.policy) return;
    const nowMs = <i64>(nowNanos() / 1000000);
    const code = getPropertyInt(["response", "code"], 0);
    const flags = getPropertyInt(["response", "flags"], 0);
    // The details matter only for a flag or a code Envoy's own replies use (0, 4xx, 5xx): a
    // 1xx-3xx without flags is an upstream's answer, and reading them would cost a host call.
    const details = flags != 0 || code == 0 || code >= 400 ? getPropertyString(["response", "code_details"]) : null;
    // Absent before Envoy 1.33: unknown, not 1 (-1). 0 is "no attempt made": counted as one.
    let attempts = getPropertyInt(["upstream", "request_attempt_count"], -1);
    const known = attempts >= 0;
    if (attempts < 1) attempts = 1;
    // Each earlier attempt is recorded as a failure: an absurd count (from a buggy or hostile
    // ext_proc client) must not loop for hours. The policy allows at most 100 retries.
    if (attempts > MAX_ATTEMPTS) attempts = MAX_ATTEMPTS;
    recorder.attempts(this.plan!, attempts, nowMs);
    // A circuit breaker's own refusal says nothing about health; but when the retry breaker
    // overflows, Envoy returns the upstream's real answer with UO set, and that one counts.
    const viaUpstream = details !== null && details! == "via_upstream";
    if ((flags & FLAG_UO) != 0 && !viaUpstream) return;
    // What the client caused is not the upstream's doing: it left or broke the protocol before
    // any answer, or Envoy answered for it (downstream_*, request_* details, downstream codec
    // errors: StreamInfo::ResponseCodeDetails).
    if (code == 0 && (flags & (FLAG_DC | FLAG_DR | FLAG_DPE)) != 0) return;
    if (details !== null && clientCaused(details!)) return;
    const latency = <f64>(nowMs - this.startMs);
    const outcome = classify(code, flags);
    const source = (outcome != Outcome.Success || attempts > 1) && p.health.outlier.minSources > 1 ? sourceKey() : 0;
    // The endpoint of the last attempt, as Envoy names it (a property: no header can set it).
    const address = getPropertyString(["upstream", "address"]);
    const endpoint = address === null || address!.length == 0 ? 0 : <u32>fnv1a(address!) | 1;
    this.followFinalChoice(p);
    if (this.aggregate >= 0) {
      const children = p.aggregates[this.aggregate].clusters;
      // Without the count (Envoy < 1.33) the child that answered is unknown: xds.cluster_name is
      // the route's cluster, the aggregate itself (router.cc sets it from the route), and
      // nothing else Envoy of that age tells names a cluster of the policy. No guess.
      if (!known) return;
      // previous_priorities moves each retry to the aggregate's next child, and back to the
      // first once all were tried. (A child with no endpoints is skipped by Envoy, which the
      // filter cannot see: docs/interface.md says so.)
      const n = <i64>children.length;
      for (let a: i64 = 1; a < attempts; a++) {
        recorder.outcome(children[<i32>((a - 1) % n)], Outcome.Gateway5xx, latency, nowMs, source, 0);
      }
      recorder.outcome(children[<i32>((attempts - 1) % n)], outcome, latency, nowMs, source, endpoint);
    } else {
      // Retries stayed in this cluster; every attempt but the last failed.
      for (let a: i64 = 1; a < attempts; a++) recorder.outcome(this.cluster, Outcome.Gateway5xx, latency, nowMs, source, 0);
      recorder.outcome(this.cluster, outcome, latency, nowMs, source, endpoint);
    }
  }
}

/** Response code details of a local reply the downstream caused. */
function clientCaused(details: string): bool {
  // http1., http2., http3.: the downstream codec's errors.
  return details.startsWith("downstream_") || details.startsWith("request_") ||
    (details.startsWith("http") && details.charCodeAt(5) == 46);
}

/**
 * Who failed, for minSources: the downstream address without its port, else the Envoy node
 * (the sidecar's view of an Envoy that sends no source.address), as a non-zero hash.
 */
function sourceKey(): u32 {
  let s = getPropertyString(["source", "address"]);
  if (s !== null && hostOnly(s!) !== null) s = hostOnly(s!);
  else s = getPropertyString(["xds", "node", "id"]);
  return <u32>(fnv1a(s === null ? "" : s!) | 1);
}

/** Inventory cluster or aggregate named `name`: [cluster, aggregate], -1 where none. */
function resolve(p: Policy, name: string): StaticArray<i32> {
  const out = new StaticArray<i32>(2);
  out[0] = p.clusterIndex(name);
  out[1] = -1;
  for (let a = 0; a < p.aggregates.length; a++) if (p.aggregates[a].name == name) out[1] = a;
  return out;
}

/** What the final response says about the cluster that produced it. A 4xx is never a failure. */
export function classify(code: i64, flags: i64): Outcome {
  if (code >= 400 && code < 500) return Outcome.Success;
  if ((flags & FLAG_UT) != 0) return Outcome.LocalTimeout;
  if ((flags & (FLAG_UF | FLAG_UC | FLAG_UR | FLAG_LR | FLAG_UH)) != 0) return Outcome.LocalConnectFailure;
  if (code == 0) return Outcome.LocalConnectFailure; // no response at all
  if (code >= 502 && code <= 504) return Outcome.Gateway5xx;
  if (code >= 500 && code <= 599) return Outcome.Http5xx;
  return Outcome.Success;
}

/**
 * "host:port" or "[v6]:port" without the port, lower case; null when what follows the last colon
 * is not a port (1-65535, digits only), or for a bare IPv6 or "a:b:c", which are no authority.
 */
function hostOnly(authority: string): string | null {
  let end = authority.length;
  const colon = authority.lastIndexOf(":");
  if (colon >= 0 && authority.lastIndexOf("]") < colon) {
    if (!authority.startsWith("[") && authority.indexOf(":") != colon) return null;
    if (end - colon < 2 || end - colon > 6) return null;
    let port = 0;
    for (let i = colon + 1; i < end; i++) {
      const c = authority.charCodeAt(i);
      if (c < 48 || c > 57) return null;
      port = port * 10 + c - 48;
    }
    if (port < 1 || port > 65535) return null;
    end = colon;
  }
  return asciiLower(authority.substring(0, end));
}

/** The value of cookie `name` in a Cookie header, or "". */
function cookieValue(header: string, name: string): string {
  let at = 0;
  while (at < header.length) {
    while (at < header.length && (header.charCodeAt(at) == 32 || header.charCodeAt(at) == 59)) at++;
    const end = header.indexOf(";", at);
    const stop = end < 0 ? header.length : end;
    const eq = header.indexOf("=", at);
    if (eq > at && eq < stop && header.substring(at, eq) == name) return trimSpaces(header.substring(eq + 1, stop));
    at = stop + 1;
  }
  return "";
}


