// Checks a file of Kubernetes resources: every document's apiVersion, kind and metadata, then
// each kind's own checks, some of which look across the documents of the file (a Service and
// the Deployment it selects, a VirtualService and the DestinationRule and policy beside it), then
// the whole resource against its kind's schema (unknown fields, types, enums: k8s-schema.ts).
// A kind's own check says more than the schema can, so where both find fault with the same
// member, the report keeps the kind check's finding alone.

import { checkConfigMap, checkDeployment, checkService } from "./k8s-core.js";
import { checkEnvoyExtensionPolicy, checkHttpRoute, checkReferenceGrant } from "./k8s-gateway.js";
import { checkDestinationRule, checkEnvoyFilter, checkVirtualService, checkWasmPlugin } from "./k8s-istio.js";
import { checkPrometheusRule } from "./k8s-prometheus.js";
import { Issues } from "./issues.js";
import type { KnownKinds } from "./k8s-knowledge.js";
import { checkBootstrapOverrideFile, checkEnvoyProxy } from "./bootstrap-fragment.js";
import { type Resource, type ResourcePolicy, obj, stringMap } from "./resource.js";
import { isNear } from "./values.js";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks every resource; returns the failover policies they carry, for the module to judge. */
export function checkResources(resources: Resource[], known: KnownKinds): ResourcePolicy[] {
  const policies: ResourcePolicy[] = [];
  const checked = resources.filter((r) => checkHeader(r, known));
  for (const r of checked) {
    if (r.kind === "ConfigMap") policies.push(...checkConfigMap(r));
    if (r.kind === "WasmPlugin") policies.push(...checkWasmPlugin(r));
    if (r.kind === "EnvoyExtensionPolicy") policies.push(...checkEnvoyExtensionPolicy(r));
  }
  for (const r of checked) {
    if (r.kind === "Deployment") checkDeployment(r, resources);
    if (r.kind === "Service") checkService(r, resources);
    if (r.kind === "EnvoyFilter") checkEnvoyFilter(r);
    if (r.kind === "DestinationRule") checkDestinationRule(r);
    if (r.kind === "VirtualService") checkVirtualService(r, resources, policies);
    if (r.kind === "HTTPRoute") checkHttpRoute(r);
    if (r.kind === "ReferenceGrant") checkReferenceGrant(r);
    if (r.kind === "ConfigMap") checkBootstrapOverrideFile(r);
    if (r.kind === "EnvoyProxy") checkEnvoyProxy(r);
    if (r.kind === "PrometheusRule") checkPrometheusRule(r);
  }
  for (const r of checked) checkSchema(r, known);
  return policies;
}

/** The resource against its kind's schema; a member a kind check already faulted is not reported twice. */
function checkSchema(r: Resource, known: KnownKinds): void {
  const k = known.lookup(r.value.apiVersion, r.kind);
  if (!k) return;
  const found = new Issues();
  k.checker.check(r.value, found);
  const reported = new Set(r.issues.list.map((i) => JSON.stringify(i.path)));
  for (const i of found.list) if (!reported.has(JSON.stringify(i.path))) r.issues.error(i.path, i.message);
}

/** apiVersion, kind and metadata; false when the kind is not one this validator knows. */
function checkHeader(r: Resource, known: KnownKinds): boolean {
  const versions = known.versions(r.kind);
  if (!versions.length) {
    r.issues.error(["kind"], r.kind ? unknownKind(r.kind, known) : "required");
    return false;
  }
  if (!versions.includes(r.value.apiVersion as string)) r.issues.error(["apiVersion"], `${r.kind} is served as ${versions.join(" or ")}, not ${JSON.stringify(r.value.apiVersion)}`);
  const meta = obj(r.value.metadata);
  if (!r.name) r.issues.error(["metadata", "name"], "required");
  else if (r.name.length > 253 || !DNS_SUBDOMAIN.test(r.name)) r.issues.error(["metadata", "name"], `"${r.name}" is not a DNS subdomain (lowercase letters, digits, '-' and '.')`);
  if (meta.namespace !== undefined && !DNS_LABEL.test(r.namespace)) r.issues.error(["metadata", "namespace"], `${JSON.stringify(meta.namespace)} is not a DNS label`);
  if (r.kind === "Namespace" && meta.namespace !== undefined) r.issues.error(["metadata", "namespace"], "a Namespace is not namespaced");
  stringMap(r.issues, ["metadata", "labels"], meta.labels);
  stringMap(r.issues, ["metadata", "annotations"], meta.annotations);
  return true;
}

function unknownKind(kind: string, known: KnownKinds): string {
  const near = known.kinds().filter((k) => isNear(k, kind));
  return `${kind} is not a kind this validator knows${near.length ? ` (did you mean ${near.join(" or ")}?)` : ""}; give its CustomResourceDefinition with --crds DIR`;
}
