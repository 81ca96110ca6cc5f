// Checks a file of Kubernetes resources: every document's apiVersion, kind and metadata, then
// each kind's own checks, some of which look across the documents of the file (a Service and
// the Deployment it selects, a VirtualService and the DestinationRule and policy beside it).

import { checkConfigMap, checkDeployment, checkService } from "./k8s-core.js";
import { checkEnvoyExtensionPolicy, checkHttpRoute, checkReferenceGrant } from "./k8s-gateway.js";
import { checkDestinationRule, checkEnvoyFilter, checkVirtualService, checkWasmPlugin } from "./k8s-istio.js";
import { type Resource, type ResourcePolicy, obj, stringMap } from "./resource.js";

const ISTIO_NETWORKING = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];
/** The kinds this project ships, and the API versions each may be written in. */
const KINDS: Record<string, string[]> = {
  Namespace: ["v1"],
  ServiceAccount: ["v1"],
  ConfigMap: ["v1"],
  Service: ["v1"],
  Deployment: ["apps/v1"],
  WasmPlugin: ["extensions.istio.io/v1alpha1"],
  EnvoyFilter: ["networking.istio.io/v1alpha3"],
  DestinationRule: ISTIO_NETWORKING,
  VirtualService: ISTIO_NETWORKING,
  EnvoyExtensionPolicy: ["gateway.envoyproxy.io/v1alpha1"],
  HTTPRoute: ["gateway.networking.k8s.io/v1"],
  ReferenceGrant: ["gateway.networking.k8s.io/v1beta1"],
};
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks every resource; returns the failover policies they carry, for the module to judge. */
export function checkResources(resources: Resource[]): ResourcePolicy[] {
  const policies: ResourcePolicy[] = [];
  for (const r of resources) {
    if (!checkHeader(r)) continue;
    if (r.kind === "ConfigMap") policies.push(...checkConfigMap(r));
    if (r.kind === "WasmPlugin") policies.push(...checkWasmPlugin(r));
    if (r.kind === "EnvoyExtensionPolicy") policies.push(...checkEnvoyExtensionPolicy(r));
  }
  for (const r of resources) {
    if (r.kind === "Deployment") checkDeployment(r, resources);
    if (r.kind === "Service") checkService(r, resources);
    if (r.kind === "EnvoyFilter") checkEnvoyFilter(r);
    if (r.kind === "DestinationRule") checkDestinationRule(r);
    if (r.kind === "VirtualService") checkVirtualService(r, resources, policies);
    if (r.kind === "HTTPRoute") checkHttpRoute(r);
    if (r.kind === "ReferenceGrant") checkReferenceGrant(r);
  }
  return policies;
}

/** apiVersion, kind and metadata; false when the kind is not one this validator knows. */
function checkHeader(r: Resource): boolean {
  const versions = KINDS[r.kind];
  if (!versions) {
    r.issues.error(["kind"], r.kind ? `${r.kind} is not a kind this validator knows (${Object.keys(KINDS).join(", ")})` : "required");
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
