// Istio resources: WasmPlugin (the in-proxy filter), EnvoyFilter (ext_proc for the sidecar form;
// its patch values are Envoy protos and are decoded strictly), DestinationRule and VirtualService.
// Istio names its clusters itself, so the routing header is read by VirtualService routes that
// match it and send each cluster name of the policy to a DestinationRule subset: every policy
// cluster needs such a route, and every subset a route names must exist.

import { basename } from "node:path";
import { EXT_PROC_FILTER } from "./bootstrap.js";
import { Decoder } from "./decode.js";
import { checkExtProcFilter } from "./extproc-filter.js";
import { MODULE_FILE_NAME } from "../../module/contract.js";
import { policyNames } from "../../module/policy-names.js";
import { envoyTypes } from "../protos.js";
import { type Obj, type Resource, type ResourcePolicy, arr, goDuration, needList, needString, obj, oneOf, str, stringMap } from "./resource.js";
import type { Path } from "./source.js";
import { isObject } from "./values.js";

const ROUTER_NAME = "envoy.filters.http.router";
// What an EnvoyFilter patch value is, per applyTo (Istio's EnvoyFilter reference).
const PATCH_TYPES: Record<string, string> = {
  LISTENER: "envoy.config.listener.v3.Listener",
  FILTER_CHAIN: "envoy.config.listener.v3.FilterChain",
  NETWORK_FILTER: "envoy.config.listener.v3.Filter",
  HTTP_FILTER: "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
  ROUTE_CONFIGURATION: "envoy.config.route.v3.RouteConfiguration",
  VIRTUAL_HOST: "envoy.config.route.v3.VirtualHost",
  HTTP_ROUTE: "envoy.config.route.v3.Route",
  CLUSTER: "envoy.config.cluster.v3.Cluster",
  EXTENSION_CONFIG: "envoy.config.core.v3.TypedExtensionConfig",
  BOOTSTRAP: "envoy.config.bootstrap.v3.Bootstrap",
  LISTENER_FILTER: "envoy.config.listener.v3.ListenerFilter",
};
const OPERATIONS = ["MERGE", "ADD", "REMOVE", "INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST", "REPLACE"];

export function checkWasmPlugin(r: Resource): ResourcePolicy[] {
  const s = r.spec;
  const url = needString(r.issues, ["spec", "url"], s.url);
  if (url) {
    const scheme = /^(oci|file|https?):\/\//.exec(url)?.[1];
    if (!scheme) r.issues.error(["spec", "url"], `"${url}": expected an oci://, file://, http:// or https:// URL`);
    else if (scheme === "file" && basename(url) !== MODULE_FILE_NAME) r.issues.error(["spec", "url"], `points at "${basename(url)}", not the failover module (${MODULE_FILE_NAME})`);
  }
  if (s.sha256 !== undefined && !/^[a-f0-9]{64}$/.test(str(s.sha256))) r.issues.error(["spec", "sha256"], "expected 64 lowercase hex digits");
  const targeted = s.targetRefs !== undefined || s.targetRef !== undefined;
  if (s.selector !== undefined && targeted) r.issues.error(["spec"], "selector and targetRefs cannot both be set");
  if (s.selector !== undefined) stringMap(r.issues, ["spec", "selector", "matchLabels"], obj(s.selector).matchLabels);
  const refs = s.targetRef !== undefined ? [obj(s.targetRef)] : arr(s.targetRefs);
  refs.forEach((ref, i) => {
    const at: Path = s.targetRef !== undefined ? ["spec", "targetRef"] : ["spec", "targetRefs", i];
    needString(r.issues, [...at, "kind"], ref.kind);
    needString(r.issues, [...at, "name"], ref.name);
    if (ref.kind === "Gateway" && ref.group !== "gateway.networking.k8s.io") r.issues.error([...at, "group"], "a Gateway (such as a waypoint) is in group gateway.networking.k8s.io");
  });
  oneOf(r.issues, ["spec", "phase"], s.phase, ["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"]);
  oneOf(r.issues, ["spec", "failStrategy"], s.failStrategy, ["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"]);
  oneOf(r.issues, ["spec", "imagePullPolicy"], s.imagePullPolicy, ["UNSPECIFIED_POLICY", "IfNotPresent", "Always"]);
  oneOf(r.issues, ["spec", "type"], s.type, ["UNSPECIFIED_PLUGIN_TYPE", "HTTP"]);
  if (s.failStrategy !== "FAIL_OPEN") r.issues.warn(["spec", "failStrategy"], "not FAIL_OPEN: if the Wasm VM fails, every request gets a 5xx instead of Istio's own routing");
  if (!isObject(s.pluginConfig)) {
    r.issues.error(["spec", "pluginConfig"], "required: the failover policy");
    return [];
  }
  return [{ resource: r, path: ["spec", "pluginConfig"], doc: s.pluginConfig, text: JSON.stringify(s.pluginConfig), structured: true }];
}

export function checkEnvoyFilter(r: Resource): void {
  const s = r.spec;
  if (s.workloadSelector === undefined && s.targetRefs === undefined) r.issues.warn(["spec"], "no workloadSelector or targetRefs: applies to every proxy in the namespace");
  const types = envoyTypes();
  needList(r.issues, ["spec", "configPatches"], s.configPatches).forEach((p, i) => {
    const at: Path = ["spec", "configPatches", i];
    const applyTo = str(p.applyTo);
    const type = PATCH_TYPES[applyTo];
    if (!type) r.issues.error([...at, "applyTo"], `${JSON.stringify(p.applyTo)} is not one of: ${Object.keys(PATCH_TYPES).join(", ")}`);
    const patch = obj(p.patch);
    const op = str(patch.operation);
    if (!OPERATIONS.includes(op)) r.issues.error([...at, "patch", "operation"], `${JSON.stringify(patch.operation)} is not one of: ${OPERATIONS.join(", ")}`);
    if (!type || patch.value === undefined) return;
    // A MERGE value is a fragment merged into Istio's own message: its required fields are Istio's to fill.
    const decoder = new Decoder(types.root, r.issues, { rules: op !== "MERGE" });
    const messageType = decoder.lookup(type);
    const value = messageType ? obj(decoder.decode(messageType, patch.value, [...at, "patch", "value"])) : {};
    if (applyTo === "HTTP_FILTER") checkHttpFilterPatch(r, value, op, obj(obj(obj(obj(p.match).listener).filterChain).filter), at);
  });
}

function checkHttpFilterPatch(r: Resource, filter: Obj, op: string, matchFilter: Obj, at: Path): void {
  const config = obj(filter.typed_config);
  if (config["@type"] !== `type.googleapis.com/${EXT_PROC_FILTER}`) return;
  const beforeRouter = op === "INSERT_FIRST" || op === "INSERT_BEFORE" || (op === "INSERT_AFTER" && str(obj(matchFilter.subFilter).name) !== ROUTER_NAME);
  if (!beforeRouter) r.issues.error([...at, "patch", "operation"], `${op} puts the ext_proc filter after ${ROUTER_NAME}; use INSERT_BEFORE with match.listener.filterChain.filter.subFilter.name: ${ROUTER_NAME}`);
  checkExtProcFilter(config, [...at, "patch", "value", "typed_config"], r.issues);
}

export function checkDestinationRule(r: Resource): void {
  const s = r.spec;
  needString(r.issues, ["spec", "host"], s.host);
  const names = new Set<string>();
  arr(s.subsets).forEach((sub, i) => {
    const name = needString(r.issues, ["spec", "subsets", i, "name"], sub.name);
    if (name && names.has(name)) r.issues.error(["spec", "subsets", i, "name"], `duplicate subset "${name}"`);
    if (name) names.add(name);
    stringMap(r.issues, ["spec", "subsets", i, "labels"], sub.labels);
  });
  const policy = obj(s.trafficPolicy);
  const od = obj(policy.outlierDetection);
  for (const d of ["interval", "baseEjectionTime"]) goDuration(r.issues, ["spec", "trafficPolicy", "outlierDetection", d], od[d]);
  if (od.consecutiveErrors !== undefined) r.issues.warn(["spec", "trafficPolicy", "outlierDetection", "consecutiveErrors"], "deprecated in Istio: use consecutiveGatewayErrors (502, 503, 504) or consecutive5xxErrors");
  const locality = obj(obj(policy.loadBalancer).localityLbSetting);
  if (locality.distribute !== undefined && locality.failover !== undefined) r.issues.error(["spec", "trafficPolicy", "loadBalancer", "localityLbSetting"], "distribute and failover cannot be used together");
}

/** Routes, subsets, and (with a policy in the same file) the header routes that read the policy's choice. */
export function checkVirtualService(r: Resource, all: Resource[], policies: ResourcePolicy[]): void {
  const s = r.spec;
  needList(r.issues, ["spec", "hosts"], s.hosts);
  const http = arr(s.http);
  http.forEach((route, i) => {
    needList(r.issues, ["spec", "http", i, "route"], route.route).forEach((dest, j) => {
      const at: Path = ["spec", "http", i, "route", j, "destination"];
      const d = obj(dest.destination);
      const host = needString(r.issues, [...at, "host"], d.host);
      if (host && typeof d.subset === "string") {
        const rules = all.filter((x) => x.kind === "DestinationRule" && sameHost(str(x.spec.host), host));
        if (rules.length && !rules.some((x) => arr(x.spec.subsets).some((sub) => sub.name === d.subset))) {
          r.issues.error([...at, "subset"], `no DestinationRule for ${host} in this file defines subset "${d.subset}"`);
        }
      }
    });
  });
  for (const p of policies.filter((x) => x.resource.kind === "WasmPlugin")) checkHeaderRoutes(r, http, p);
}

function checkHeaderRoutes(r: Resource, http: Obj[], p: ResourcePolicy): void {
  const names = policyNames(p.doc);
  const where = `the policy of ${p.resource.label}`;
  if (names.aggregates.length) r.issues.error(["spec", "http"], `${where} names aggregate clusters, which a VirtualService cannot route to: drop aggregates (and acrossClusters) from a policy for Istio`);
  const routed = new Set<string>();
  http.forEach((route, i) => {
    arr(route.match).forEach((m, j) => {
      const header = obj(obj(m.headers)[names.routingHeader]);
      if (!isObject(obj(m.headers)[names.routingHeader])) return;
      const at: Path = ["spec", "http", i, "match", j, "headers", names.routingHeader];
      if (typeof header.exact !== "string") {
        r.issues.error(at, "match the routing header with exact: <cluster name>");
        return;
      }
      if (!names.clusters.includes(header.exact)) r.issues.error([...at, "exact"], `"${header.exact}" is not a cluster of ${where} (${names.clusters.join(", ")})`);
      routed.add(header.exact);
    });
  });
  const missing = names.clusters.filter((c) => !routed.has(c));
  if (missing.length) {
    r.issues.error(["spec", "http"], `no route matches ${names.routingHeader}: ${missing.join(", ")}; when the filter picks ${missing.length === 1 ? "it" : "one of them"}, the request would not go there`);
  }
}

/** `user` and `user.base.svc.cluster.local` name the same service in one namespace. */
function sameHost(a: string, b: string): boolean {
  return a === b || a.split(".")[0] === b.split(".")[0];
}
