// What a client's request looks like at the router when no failover filter runs (the Wasm VM
// failed open, the sidecar is down), for each shipped form, in the order the proxy applies
// things: the early header mutation (Envoy HCM, Istio EnvoyFilter, Envoy Gateway
// ClientTrafficPolicy) and the authorization filters (Istio AuthorizationPolicy) before every
// other HTTP filter, then the router's route match. It shows whether a client can choose the
// upstream or set a header the filter owns.
//
// Order, as read in the sources: the HCM calls its early header mutation extensions "before any
// routing, tracing, or any filter processing", in order (Envoy's http_connection_manager.proto,
// early_header_mutation_extensions, in the Envoy 1.31 API of @grpc/grpc-js-xds 1.14.1); Istio puts its RBAC
// filters before a WasmPlugin of phase STATS (pilot/pkg/networking/core/listener_builder.go@86c9f01f);
// Envoy Gateway renders earlyRequestHeaders as that same HCM early mutation
// (internal/xds/translator/listener.go@d32f2829). The route match follows the first matching route
// (Envoy, Istio VirtualService) or the most specific matching rule (Gateway API HTTPRoute).

import type { Issues } from "./issues.js";
import { type ResourcePolicy, type Resource, arr, obj, str } from "./resource.js";
import { policyNames } from "../../module/policy-names.js";
import { isObject } from "./values.js";

type Obj = Record<string, unknown>;

export interface ClientRequest {
  readonly authority: string;
  readonly path: string;
  /** Header names in any case. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface NoFilterOutcome {
  /** Set when the request is refused before routing (an authorization DENY). */
  readonly denied?: string;
  /** The route that matched, by name (or index). */
  readonly route?: string;
  /** Where it goes: an Envoy cluster, a subset (`host#subset`) or a backend Service. */
  readonly upstream?: string;
  /** The request headers that reach the router (and so the upstream, the access log, the retry logic). */
  readonly headers: Record<string, string>;
}

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const HEADER_MUTATION = "envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation";

/** An Envoy bootstrap (its first HTTP connection manager), no HTTP filter running. */
export function bootstrapWithoutFilters(bootstrap: Obj, req: ClientRequest): NoFilterOutcome {
  const hcm = findHcm(bootstrap);
  const headers = applyEarlyMutations(arr(hcm.early_header_mutation_extensions ?? hcm.earlyHeaderMutationExtensions), lower(req.headers));
  const vh = arr(obj(hcm.route_config).virtual_hosts).find((v) => strs(v.domains).some((d) => domainMatches(d, req.authority)));
  for (const [i, route] of arr(vh?.routes).entries()) {
    const m = obj(route.match);
    if (!pathMatches(m, req.path) || !arr(m.headers).every((h) => envoyHeaderMatches(h, headers))) continue;
    const action = obj(route.route);
    const header = typeof action.cluster_header === "string" ? action.cluster_header.toLowerCase() : undefined;
    return { route: str(route.name) || String(i), upstream: header !== undefined ? headers[header] : str(action.cluster), headers };
  }
  return { headers };
}

/**
 * Istio resources for one proxy: `gateway` applies EnvoyFilter patches of context GATEWAY;
 * `waypoint` applies none (Istio does not apply EnvoyFilter to waypoints). AuthorizationPolicy
 * DENY rules run next, then the VirtualService's http routes in order.
 */
export function istioWithoutFilters(resources: Obj[], proxy: "gateway" | "waypoint", req: ClientRequest): NoFilterOutcome {
  let headers = lower(req.headers);
  if (proxy === "gateway") {
    for (const ef of resources.filter((r) => r.kind === "EnvoyFilter")) {
      for (const p of arr(obj(ef.spec).configPatches)) {
        if (p.applyTo !== "NETWORK_FILTER" || obj(p.match).context !== "GATEWAY") continue;
        const cfg = obj(obj(obj(p.patch).value).typed_config);
        if (typeOf(cfg) === HCM) headers = applyEarlyMutations(arr(cfg.early_header_mutation_extensions), headers);
      }
    }
  }
  const denied = istioDenied(resources, proxy, headers);
  if (denied) return { denied, headers };
  for (const vs of resources.filter((r) => r.kind === "VirtualService")) {
    for (const [i, route] of arr(obj(vs.spec).http).entries()) {
      const matches = arr(route.match);
      const hit = !matches.length || matches.some((m) => istioMatch(m, headers, req.path));
      if (!hit) continue;
      const d = obj(obj(arr(route.route)[0]).destination);
      return { route: str(route.name) || String(i), upstream: `${str(d.host)}${d.subset ? `#${str(d.subset)}` : ""}`, headers };
    }
  }
  return { headers };
}

/** Envoy Gateway: ClientTrafficPolicy early headers on the HTTPRoute's Gateway, then the most specific matching rule. */
export function gatewayWithoutFilters(resources: Obj[], req: ClientRequest): NoFilterOutcome {
  let headers = lower(req.headers);
  const route = resources.find((r) => r.kind === "HTTPRoute");
  const parents = arr(obj(route?.spec).parentRefs).map((p) => str(p.name));
  for (const ctp of resources.filter((r) => r.kind === "ClientTrafficPolicy")) {
    const targets = arr(obj(ctp.spec).targetRefs).filter((t) => t.kind === "Gateway").map((t) => str(t.name));
    if (!targets.some((t) => parents.includes(t))) continue;
    const remove = strs(obj(obj(obj(ctp.spec).headers).earlyRequestHeaders).remove).map((n) => n.toLowerCase());
    headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !remove.includes(k)));
  }
  // Gateway API precedence among rules that match the same path: more header matches first.
  let best: { rule: Obj; index: number; specificity: number } | undefined;
  for (const [index, rule] of arr(obj(route?.spec).rules).entries()) {
    for (const m of arr(rule.matches)) {
      const path = obj(m.path);
      if (path.type === "PathPrefix" && !req.path.startsWith(str(path.value))) continue;
      const hs = arr(m.headers);
      if (!hs.every((h) => (h.type ?? "Exact") === "Exact" && headers[str(h.name).toLowerCase()] === str(h.value))) continue;
      if (!best || hs.length > best.specificity) best = { rule, index, specificity: hs.length };
    }
  }
  if (!best) return { headers };
  return { route: String(best.index), upstream: str(obj(arr(best.rule.backendRefs)[0]).name), headers };
}

function istioDenied(resources: Obj[], proxy: "gateway" | "waypoint", headers: Record<string, string>): string | undefined {
  for (const ap of resources.filter((r) => r.kind === "AuthorizationPolicy" && obj(r.spec).action === "DENY")) {
    const spec = obj(ap.spec);
    const bound = proxy === "waypoint" ? arr(spec.targetRefs).some((t) => t.kind === "Gateway") : spec.selector !== undefined;
    if (!bound) continue;
    for (const rule of arr(spec.rules)) {
      const when = arr(rule.when);
      if (when.length && when.every((w) => istioCondition(w, headers))) return `${str(obj(ap.metadata).name)}: ${when.map((w) => str(w.key)).join(", ")}`;
    }
  }
  return undefined;
}

/** `request.headers[name]` with values: "*" is presence, "x*" prefix, "*x" suffix, else exact. */
function istioCondition(w: Obj, headers: Record<string, string>): boolean {
  const m = /^request\.headers\[(.+)\]$/.exec(str(w.key));
  if (!m) return false;
  const v = headers[m[1].toLowerCase()];
  if (v === undefined) return false;
  return strs(w.values).some((p) => p === "*" || (p.endsWith("*") ? v.startsWith(p.slice(0, -1)) : p.startsWith("*") ? v.endsWith(p.slice(1)) : v === p));
}

function istioMatch(m: Obj, headers: Record<string, string>, path: string): boolean {
  const uri = obj(m.uri);
  if (typeof uri.prefix === "string" && !path.startsWith(uri.prefix)) return false;
  if (typeof uri.exact === "string" && path !== uri.exact) return false;
  return Object.entries(obj(m.headers)).every(([name, spec]) => {
    const v = headers[name.toLowerCase()];
    const s = obj(spec);
    if (typeof s.exact === "string") return v === s.exact;
    if (typeof s.prefix === "string") return v !== undefined && v.startsWith(s.prefix);
    return v !== undefined;
  });
}

/** Applies HeaderMutation extensions in order; only `remove` and `append` change a request here. */
function applyEarlyMutations(extensions: Obj[], headers: Record<string, string>): Record<string, string> {
  const out = { ...headers };
  for (const ext of extensions) {
    const cfg = obj(ext.typed_config);
    if (typeOf(cfg) !== HEADER_MUTATION) continue;
    for (const m of arr(cfg.mutations)) {
      if (typeof m.remove === "string") delete out[m.remove.toLowerCase()];
      const h = obj(obj(m.append).header);
      if (typeof h.key === "string") out[h.key.toLowerCase()] = str(h.value);
    }
  }
  return out;
}

function envoyHeaderMatches(h: Obj, headers: Record<string, string>): boolean {
  const v = headers[str(h.name).toLowerCase()];
  let hit: boolean;
  if (h.present_match === true) hit = v !== undefined;
  else if (typeof h.exact_match === "string") hit = v === h.exact_match;
  else if (isObject(h.string_match) && typeof h.string_match.exact === "string") hit = v === h.string_match.exact;
  else if (isObject(h.string_match) && typeof h.string_match.prefix === "string") hit = v !== undefined && v.startsWith(h.string_match.prefix);
  else hit = v !== undefined;
  return h.invert_match === true ? !hit : hit;
}

function pathMatches(m: Obj, path: string): boolean {
  if (typeof m.prefix === "string") return path.startsWith(m.prefix);
  if (typeof m.path === "string") return path === m.path;
  return false;
}

function domainMatches(domain: string, authority: string): boolean {
  if (domain === "*") return true;
  if (domain.endsWith(":*")) return authority.split(":")[0] === domain.slice(0, -2);
  return domain === authority;
}

function findHcm(b: Obj): Obj {
  for (const l of arr(obj(b.static_resources).listeners)) {
    for (const chain of arr(l.filter_chains)) {
      for (const f of arr(chain.filters)) if (typeOf(obj(f.typed_config)) === HCM) return obj(f.typed_config);
    }
  }
  return {};
}

function lower(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** The message type an Any names (`type.googleapis.com/x.y.Z` -> `x.y.Z`). */
export function typeOf(any: Obj): string | undefined {
  const url = any["@type"];
  return typeof url === "string" ? url.slice(url.lastIndexOf("/") + 1) : undefined;
}

function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.map(str) : [];
}

/**
 * For validate-envoy: every HTTP connection manager of a bootstrap that runs a failover filter must
 * remove a client's copy of each `owned` header before routing, or with no filter running a client
 * picks the cluster (the routing header) or sets retries (x-envoy-*).
 */
export function checkOwnedHeadersStripped(b: Obj, owned: readonly string[], issues: Issues): void {
  arr(obj(b.static_resources).listeners).forEach((l, i) => {
    arr(l.filter_chains).forEach((chain, j) => {
      arr(chain.filters).forEach((f, k) => {
        const hcm = obj(f.typed_config);
        if (typeOf(hcm) !== HCM || !arr(hcm.http_filters).some((h) => FAILOVER_FILTERS.includes(typeOf(obj(h.typed_config)) ?? ""))) return;
        const left = Object.keys(applyEarlyMutations(arr(hcm.early_header_mutation_extensions), Object.fromEntries(owned.map((h) => [h, "client"]))));
        if (!left.length) return;
        issues.error(["static_resources", "listeners", i, "filter_chains", j, "filters", k, "typed_config", "early_header_mutation_extensions"],
          `a client's ${left.join(", ")} reach${left.length === 1 ? "es" : ""} the router when no failover filter runs (a failed Wasm VM, a down sidecar): remove ${left.length === 1 ? "it" : "each"} in an early header mutation (envoy.http.early_header_mutation.header_mutation)`);
      });
    });
  });
}

const FAILOVER_FILTERS = ["envoy.extensions.filters.http.wasm.v3.Wasm", "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"];

/**
 * For validate-envoy: a WasmPlugin's proxy, with the plugin skipped (failStrategy FAIL_OPEN), must
 * neither let a client's routing header choose the subset nor pass an owned header on. Checked
 * with the resources of the same file: a waypoint (targetRefs) needs a DENY AuthorizationPolicy,
 * a gateway (selector) an EnvoyFilter early header mutation.
 */
export function checkIstioOwnedHeaders(p: ResourcePolicy, resources: Resource[], owned: readonly string[]): void {
  if (!owned.length) return;
  const plugin = p.resource;
  const proxy = plugin.spec.targetRefs !== undefined || plugin.spec.targetRef !== undefined ? "waypoint" : "gateway";
  const names = policyNames(p.doc);
  // Each header alone (a guard must cover every one), the routing header naming each cluster.
  const values = owned.flatMap((h) => (h === names.routingHeader ? names.clusters : ["client"]).map((v) => [h, v] as const));
  const leaked = new Set<string>();
  for (const [h, v] of values) {
    const out = istioWithoutFilters(resources.map((r) => r.value), proxy, { authority: "example.com", path: "/", headers: { [h]: v } });
    if (!out.denied && out.headers[h] !== undefined) leaked.add(h);
  }
  if (!leaked.size) return;
  const guard = proxy === "waypoint"
    ? "a DENY AuthorizationPolicy on the waypoint with a request.headers[NAME] presence rule per header (envoy/istio/waypoint.yaml)"
    : "an EnvoyFilter that merges an early header mutation removing them into the gateway's HTTP connection manager (envoy/istio/ingress-gateway.yaml)";
  plugin.issues.warn(["spec"], `when the plugin is skipped (a failed VM), a client's ${[...leaked].sort().join(", ")} reach${leaked.size === 1 ? "es" : ""} the router${leaked.has(names.routingHeader) ? " and its routing header picks the subset" : ""}: add ${guard}`);
}
