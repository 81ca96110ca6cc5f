// Envoy Gateway and Gateway API resources: EnvoyExtensionPolicy (the Wasm filter or the ext_proc
// sidecar on a route), HTTPRoute (routes that match the routing header), ReferenceGrant (lets a
// policy in one namespace name the sidecar's Service in another). Field names and limits follow
// Envoy Gateway's API types (api/v1alpha1/{envoyextensionypolicy,wasm,ext_proc}_types.go).

import { checkAttributes } from "./extproc-filter.js";
import { type Resource, type ResourcePolicy, arr, needList, needString, obj, oneOf } from "./resource.js";
import type { Path } from "./source.js";
import { isObject } from "./values.js";

const TARGET_KINDS = ["Gateway", "ListenerSet", "HTTPRoute", "GRPCRoute", "UDPRoute", "TCPRoute", "TLSRoute"];
// Envoy Gateway only passes these attribute prefixes through (its CRD's pattern).
const EG_ATTRIBUTE = /^(connection\.|source\.|destination\.|request\.|response\.|upstream\.|xds\.route_)[a-z_1-9]*$/;
// Gateway API's Duration: up to four parts of at most five digits each.
const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

export function checkEnvoyExtensionPolicy(r: Resource): ResourcePolicy[] {
  const s = r.spec;
  if ((s.targetRef === undefined) === (s.targetRefs === undefined) && s.targetSelectors === undefined) {
    r.issues.error(["spec"], "set exactly one of targetRef and targetRefs");
  }
  const refs = s.targetRef !== undefined ? [obj(s.targetRef)] : arr(s.targetRefs);
  refs.forEach((ref, i) => {
    const at: Path = s.targetRef !== undefined ? ["spec", "targetRef"] : ["spec", "targetRefs", i];
    if (ref.group !== "gateway.networking.k8s.io") r.issues.error([...at, "group"], "must be gateway.networking.k8s.io");
    oneOf(r.issues, [...at, "kind"], ref.kind, TARGET_KINDS);
    needString(r.issues, [...at, "name"], ref.name);
  });
  if (s.wasm === undefined && s.extProc === undefined) r.issues.error(["spec"], "sets neither wasm nor extProc");
  arr(s.extProc).forEach((e, i) => checkExtProc(r, e, ["spec", "extProc", i]));
  return arr(s.wasm).flatMap((w, i) => checkWasm(r, w, ["spec", "wasm", i]));
}

function checkWasm(r: Resource, w: Record<string, unknown>, at: Path): ResourcePolicy[] {
  const code = obj(w.code);
  oneOf(r.issues, [...at, "code", "type"], code.type, ["HTTP", "Image"]);
  if (code.type === "HTTP") needString(r.issues, [...at, "code", "http", "url"], obj(code.http).url);
  if (code.type === "Image") needString(r.issues, [...at, "code", "image", "url"], obj(code.image).url);
  if (code.type === undefined) r.issues.error([...at, "code", "type"], "required: HTTP or Image");
  if (w.failOpen !== true) r.issues.warn([...at, "failOpen"], "not true: if the Wasm VM fails, every request gets a 5xx instead of the route's own backends");
  if (!isObject(w.config)) {
    r.issues.error([...at, "config"], "required: the failover policy");
    return [];
  }
  return [{ resource: r, path: [...at, "config"], doc: w.config, text: JSON.stringify(w.config), structured: true }];
}

function checkExtProc(r: Resource, e: Record<string, unknown>, at: Path): void {
  needList(r.issues, [...at, "backendRefs"], e.backendRefs).forEach((b, i) => {
    needString(r.issues, [...at, "backendRefs", i, "name"], b.name);
    if (!Number.isInteger(b.port)) r.issues.error([...at, "backendRefs", i, "port"], "required: the sidecar's gRPC port");
  });
  if (e.messageTimeout !== undefined && !GATEWAY_DURATION.test(String(e.messageTimeout))) r.issues.error([...at, "messageTimeout"], `expected a duration such as "200ms", got ${JSON.stringify(e.messageTimeout)}`);
  if (e.failOpen !== true) r.issues.error([...at, "failOpen"], "must be true: a down or slow sidecar must not fail requests");
  const mode = obj(e.processingMode);
  for (const phase of ["request", "response"]) {
    const p = obj(mode[phase]);
    const path: Path = [...at, "processingMode", phase];
    if (!isObject(mode[phase])) r.issues.error(path, `required: ${phase} headers go to the sidecar`);
    if (p.body !== undefined) r.issues.error([...path, "body"], "the sidecar never reads bodies: leave body out");
    const attrs = Array.isArray(p.attributes) ? p.attributes : [];
    attrs.forEach((a, i) => {
      if (!EG_ATTRIBUTE.test(String(a))) r.issues.error([...path, "attributes", i], `"${String(a)}": Envoy Gateway accepts only connection.*, source.*, destination.*, request.*, response.*, upstream.* and xds.route_* attributes`);
    });
    checkAttributes(attrs, [...path, "attributes"], r.issues, phase === "response");
  }
}

export function checkHttpRoute(r: Resource): void {
  needList(r.issues, ["spec", "parentRefs"], r.spec.parentRefs).forEach((p, i) => needString(r.issues, ["spec", "parentRefs", i, "name"], p.name));
  arr(r.spec.rules).forEach((rule, i) => {
    arr(rule.backendRefs).forEach((b, j) => needString(r.issues, ["spec", "rules", i, "backendRefs", j, "name"], b.name));
    arr(rule.matches).forEach((m, j) => {
      arr(m.headers).forEach((h, k) => {
        needString(r.issues, ["spec", "rules", i, "matches", j, "headers", k, "name"], h.name);
        needString(r.issues, ["spec", "rules", i, "matches", j, "headers", k, "value"], h.value);
      });
    });
  });
}

export function checkReferenceGrant(r: Resource): void {
  needList(r.issues, ["spec", "from"], r.spec.from).forEach((f, i) => {
    for (const k of ["kind", "namespace"]) needString(r.issues, ["spec", "from", i, k], f[k]);
    if (typeof f.group !== "string") r.issues.error(["spec", "from", i, "group"], "required (\"\" for the core group)");
  });
  needList(r.issues, ["spec", "to"], r.spec.to).forEach((t, i) => {
    needString(r.issues, ["spec", "to", i, "kind"], t.kind);
    if (typeof t.group !== "string") r.issues.error(["spec", "to", i, "group"], "required (\"\" for the core group)");
  });
}
