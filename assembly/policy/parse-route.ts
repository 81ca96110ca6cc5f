// Reads a policy's routes: each route's match, destination, priority (failover / distribute),
// retry and affinity, with the exact path of the member at fault. parse.ts reads the rest.

import { asciiLower, field, itoa, trimSpaces } from "../text";
import { JsonValue, quote } from "../json";
import { FieldReader, isHeaderName, isToken, itemPath, join, listed } from "./reader";
import { hmacKey } from "../affinity/hmac";
import { servesAuthority } from "./match";
import {
  AffinityKind, AffinitySpec, DistributeRule, FailoverRule, Mode, Policy, RetrySpec, RouteSpec,
} from "./model";

const MAX_ROUTES = 256;
/** Candidate clusters summed over routes: each refresh (every tick) and the plan grow with it. */
const MAX_CANDIDATES = 4096;

/** The route members of the policy reader (a class of their own only to keep each file short). */
export class RouteReader extends FieldReader {
  routes(doc: JsonValue, p: Policy): void {
    const items = this.array(doc, "routes", "");
    if (!doc.has("routes")) this.fail("routes", "required: at least one route");
    if (items.length > MAX_ROUTES) this.fail("routes", "at most " + itoa(MAX_ROUTES) + " routes");
    let candidates = 0;
    for (let i = 0; i < items.length && i < MAX_ROUTES; i++) {
      const path = itemPath("", "routes", i);
      const v = items[i];
      if (!this.object(v, path, ["name", "match", "destination", "priority", "retry", "affinity"])) continue;
      const r = new RouteSpec();
      r.index = p.routes.length;
      r.name = this.name(v, path, "route-" + itoa(i), false);
      for (let j = 0; j < p.routes.length; j++) {
        if (p.routes[j].name == r.name) this.fail(join(path, "name"), "duplicate route " + quote(r.name) + " (routes[" + itoa(j) + "])");
      }
      const match = v.get("match");
      if (match !== null && this.object(match, join(path, "match"), ["authority", "pathPrefix"])) {
        r.authority = asciiLower(this.str(match, "authority", join(path, "match"), "*"));
        if (r.authority.indexOf("*") > 0 || r.authority.lastIndexOf("*") != r.authority.indexOf("*") || (r.authority.startsWith("*") && r.authority.length > 1 && !r.authority.startsWith("*."))) {
          this.fail(join(join(path, "match"), "authority"), "a wildcard must be \"*\" or lead as \"*.domain\"");
        }
        r.pathPrefix = this.str(match, "pathPrefix", join(path, "match"), "");
        if (r.pathPrefix.length > 0 && !r.pathPrefix.startsWith("/")) this.fail(join(join(path, "match"), "pathPrefix"), "must start with /");
      }
      this.destination(v.get("destination"), join(path, "destination"), p, r);
      const prio = v.get("priority");
      if (prio !== null) this.priority(prio, join(path, "priority"), r);
      const retry = v.get("retry");
      if (retry !== null) r.retry = this.retry(retry, join(path, "retry"), p, r);
      const aff = v.get("affinity");
      if (aff !== null) this.affinity(aff, join(path, "affinity"), r.affinity);
      p.routes.push(r);
      candidates += r.clusters.length;
    }
    if (candidates > MAX_CANDIDATES) {
      this.fail("routes", "at most " + itoa(MAX_CANDIDATES) + " clusters over all routes (each route's clusters, summed), got " + itoa(candidates));
    }
  }

  destination(v: JsonValue | null, path: string, p: Policy, r: RouteSpec): void {
    if (v === null) {
      this.fail(path, "required");
      return;
    }
    if (!this.object(v, path, ["mode", "clusters", "weights"])) return;
    const mode = this.str(v, "mode", path, "auto");
    if (mode == "auto") {
      r.mode = Mode.Auto;
      if (v.has("clusters") || v.has("weights")) this.fail(path, "mode auto takes no clusters or weights: it picks the clusters by their hosts");
      for (let i = 0; i < p.clusters.length; i++) {
        if (servesAuthority(p.clusters[i].hosts, r.authority)) r.clusters.push(i);
      }
      if (r.clusters.length == 0) this.fail(path, "mode auto: no cluster lists " + quote(r.authority) + " in its hosts");
    } else if (mode == "named") {
      r.mode = Mode.Named;
      if (v.has("weights")) this.fail(join(path, "weights"), "only for mode weighted");
      const names = this.strings(v, "clusters", path);
      if (names.length == 0) this.fail(join(path, "clusters"), "mode named needs at least one cluster");
      for (let i = 0; i < names.length; i++) {
        const idx = p.clusterIndex(names[i]);
        if (idx < 0) this.fail(itemPath(path, "clusters", i), "unknown cluster " + quote(names[i]));
        else if (r.clusters.includes(idx)) this.fail(itemPath(path, "clusters", i), "listed twice: " + quote(names[i]));
        else r.clusters.push(idx);
      }
    } else if (mode == "weighted") {
      r.mode = Mode.Weighted;
      if (v.has("clusters")) this.fail(join(path, "clusters"), "mode weighted takes weights, not clusters");
      const w = v.get("weights");
      if (w === null || !w.isObject || w.keys.length == 0) {
        this.fail(join(path, "weights"), "mode weighted needs weights: {cluster: weight, ...}");
        return;
      }
      let total = 0;
      let unknown = 0;
      for (let i = 0; i < w.keys.length; i++) {
        const name = w.keys[i];
        const idx = p.clusterIndex(name);
        const weight = this.int(w, name, join(path, "weights"), 0, 0, 1000000);
        if (idx < 0) {
          this.fail(join(join(path, "weights"), name), "unknown cluster " + quote(name));
          unknown++;
          continue;
        }
        r.clusters.push(idx);
        r.weights.push(weight);
        total += weight;
      }
      if (total == 0 && unknown == 0) this.fail(join(path, "weights"), "at least one weight must be above 0");
    } else {
      this.fail(join(path, "mode"), "expected auto, named or weighted, got " + quote(mode));
    }
  }

  priority(v: JsonValue, path: string, r: RouteSpec): void {
    if (!this.object(v, path, ["failoverPriority", "failover", "distribute"])) return;
    r.failoverPriority = this.strings(v, "failoverPriority", path);
    const fo = this.array(v, "failover", path);
    for (let i = 0; i < fo.length; i++) {
      const fp = itemPath(path, "failover", i);
      if (!this.object(fo[i], fp, ["from", "to"])) continue;
      const rule = new FailoverRule();
      rule.from = this.str(fo[i], "from", fp, "", true);
      rule.to = this.str(fo[i], "to", fp, "", true);
      if (rule.from == rule.to && rule.from.length > 0) this.fail(fp, "from and to must differ");
      if (rule.from.includes("*") || rule.to.includes("*") || rule.from.includes("/") || rule.to.includes("/")) this.fail(fp, "failover names regions only");
      r.failover.push(rule);
    }
    if (r.failover.length > 0) {
      for (let i = 0; i < r.failoverPriority.length; i++) {
        const l = r.failoverPriority[i];
        if (l == "topology.kubernetes.io/region" || l == "topology.kubernetes.io/zone" || l == "topology.istio.io/subzone" || l == "region" || l == "zone" || l == "subzone") {
          this.fail(itemPath(path, "failoverPriority", i), "with failover set, failoverPriority must not name region, zone or subzone (Istio's rule)");
        }
      }
    }
    const dist = this.array(v, "distribute", path);
    if (dist.length > 0 && r.failover.length > 0) this.fail(join(path, "distribute"), "distribute and failover cannot be used together");
    for (let i = 0; i < dist.length; i++) {
      const dp = itemPath(path, "distribute", i);
      if (!this.object(dist[i], dp, ["from", "to"])) continue;
      const rule = new DistributeRule();
      rule.from = this.str(dist[i], "from", dp, "", true);
      this.checkPattern(rule.from, join(dp, "from"));
      const to = dist[i].get("to");
      if (to === null || !to.isObject || to.keys.length == 0) {
        this.fail(join(dp, "to"), "required: {locality pattern: weight, ...}");
        continue;
      }
      let sum = 0;
      for (let j = 0; j < to.keys.length; j++) {
        const w = this.int(to, to.keys[j], join(dp, "to"), 0, 1, 100);
        this.checkPattern(to.keys[j], join(join(dp, "to"), to.keys[j]));
        rule.to.push(to.keys[j]);
        rule.weights.push(w);
        sum += w;
      }
      if (sum != 100) this.fail(join(dp, "to"), "weights must sum to 100, got " + itoa(sum));
      r.distribute.push(rule);
    }
    if (r.mode == Mode.Weighted && (r.failoverPriority.length > 0 || r.failover.length > 0 || r.distribute.length > 0)) {
      this.fail(path, "priority rules do not apply to mode weighted");
    }
  }

  checkPattern(pattern: string, path: string): void {
    const star = pattern.indexOf("*");
    if (star >= 0 && star != pattern.length - 1) this.fail(path, "a wildcard may only end the pattern: " + quote(pattern));
    if (field(pattern, 47, 3) !== null) this.fail(path, "a locality pattern is region/zone/subzone: " + quote(pattern));
  }

  retry(v: JsonValue, path: string, p: Policy, r: RouteSpec): RetrySpec {
    const s = new RetrySpec();
    if (!this.object(v, path, ["retryOn", "numRetries", "perTryTimeout", "retriableStatusCodes", "acrossClusters", "budget"])) return s;
    s.retryOn = this.str(v, "retryOn", path, "5xx,reset,connect-failure");
    for (let i = 0; ; i++) {
      const part = field(s.retryOn, 44, i);
      if (part === null) break;
      const cond = trimSpaces(part!);
      if (!listed(RETRY_ON, cond)) this.fail(join(path, "retryOn"), "unknown retry condition " + quote(cond) + " (Envoy knows: " + RETRY_ON + ")");
    }
    s.numRetries = this.int(v, "numRetries", path, 1, 0, 100);
    s.perTryTimeoutMs = this.duration(v, "perTryTimeout", path, 0, 1);
    const codes = this.array(v, "retriableStatusCodes", path);
    for (let i = 0; i < codes.length; i++) {
      const c = this.numValue(codes[i], itemPath(path, "retriableStatusCodes", i), 0, 100, 599);
      if (c > 0) s.retriableStatusCodes += (s.retriableStatusCodes.length > 0 ? "," : "") + itoa((<i32>c));
    }
    if (codes.length > 0 && !s.retryOn.includes("retriable-status-codes")) {
      this.fail(join(path, "retriableStatusCodes"), "used only when retryOn includes retriable-status-codes");
    }
    s.acrossClusters = this.bool(v, "acrossClusters", path, false);
    if (s.acrossClusters && p.aggregates.length == 0) {
      this.fail(join(path, "acrossClusters"), "needs aggregates: Envoy moves a retry to another cluster only through an aggregate cluster");
    }
    const budget = v.get("budget");
    if (budget !== null && this.object(budget, join(path, "budget"), ["percent", "minRetries"])) {
      s.budgetPercent = this.num(budget, "percent", join(path, "budget"), 20, 0.1, 100);
      s.budgetMinRetries = this.int(budget, "minRetries", join(path, "budget"), 3, 0, 100000);
    }
    return s;
  }

  affinity(v: JsonValue, path: string, a: AffinitySpec): void {
    if (!this.object(v, path, ["header", "cookie", "sourceIp"])) return;
    let kinds = 0;
    if (v.has("header")) {
      a.kind = AffinityKind.Header;
      a.header = asciiLower(this.str(v, "header", path, ""));
      if (!isHeaderName(a.header)) this.fail(join(path, "header"), "not a valid header name: " + quote(a.header));
      kinds++;
    }
    const cookie = v.get("cookie");
    if (cookie !== null) {
      kinds++;
      a.kind = AffinityKind.Cookie;
      const cp = join(path, "cookie");
      if (this.object(cookie, cp, ["name", "ttl", "path", "secret", "previousSecrets"])) {
        a.cookieName = this.str(cookie, "name", cp, "failover-affinity");
        a.cookieTtlS = <i64>(this.duration(cookie, "ttl", cp, 3600000, 1000) / 1000);
        a.cookiePath = this.str(cookie, "path", cp, "/");
        if (!isToken(a.cookieName)) this.fail(join(cp, "name"), "not a valid cookie name: " + quote(a.cookieName));
        const secrets = cookie.has("secret") ? [this.str(cookie, "secret", cp, "")] : new Array<string>();
        const previous = this.strings(cookie, "previousSecrets", cp);
        if (secrets.length == 0 && previous.length > 0) this.fail(join(cp, "previousSecrets"), "needs a secret to sign new cookies with");
        // Each is tried on every request with a cookie that the current secret did not sign.
        if (previous.length > 4) this.fail(join(cp, "previousSecrets"), "at most 4");
        for (let i = 0; i < previous.length; i++) secrets.push(previous[i]);
        for (let i = 0; i < secrets.length; i++) {
          const bytes = String.UTF8.encode(secrets[i]);
          // HMAC-SHA-256 takes up to one 64-byte block as is; 16 bytes is the least worth guessing.
          if (bytes.byteLength < 16 || bytes.byteLength > 64) this.fail(join(cp, i == 0 && cookie.has("secret") ? "secret" : "previousSecrets"), "a secret is 16 to 64 bytes");
          a.cookieKeys.push(hmacKey(bytes));
        }
      }
    }
    if (v.has("sourceIp")) {
      kinds++;
      if (this.bool(v, "sourceIp", path, false)) a.kind = AffinityKind.SourceIp;
    }
    if (kinds > 1) this.fail(path, "choose one of header, cookie or sourceIp");
  }
}

/** Retry conditions Envoy knows (router_filter's x-envoy-retry-on), one string likewise. */
const RETRY_ON = "5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, " +
  "refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure";
