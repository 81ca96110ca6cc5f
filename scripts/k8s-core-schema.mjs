// The core Kubernetes kinds (Deployment, Service, ConfigMap, ...) as one file of FieldSchemas
// (see extproc/envoy-config/validate/k8s-schema.ts), read from the models of @kubernetes/client-node, the
// official client, which are generated from Kubernetes' own OpenAPI document (client 1.4.0's are
// Kubernetes 1.34's): each model's attributeTypeMap names every field and its type. The models
// carry no `required` lists and no enums: the enums of the fields below are added from
// Kubernetes' API types; the kind checks in k8s-core.ts add the members that matter here.
//
// For scripts/k8s-schemas.mjs --core only: the validator ships what this makes
// (k8s-schemas/kubernetes.json) and test/k8s-knowledge.test.ts checks that file against the
// models, so the client library is a development dependency, not part of the runtime.
import { createRequire } from "node:module";
import * as models from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";

const client = createRequire(import.meta.url)("@kubernetes/client-node/package.json");

/** kind -> [apiVersion, the client's model]. */
export const CORE_KINDS = {
  Namespace: ["v1", "V1Namespace"],
  ServiceAccount: ["v1", "V1ServiceAccount"],
  ConfigMap: ["v1", "V1ConfigMap"],
  Secret: ["v1", "V1Secret"],
  Service: ["v1", "V1Service"],
  Pod: ["v1", "V1Pod"],
  Deployment: ["apps/v1", "V1Deployment"],
  StatefulSet: ["apps/v1", "V1StatefulSet"],
  DaemonSet: ["apps/v1", "V1DaemonSet"],
  Job: ["batch/v1", "V1Job"],
  CronJob: ["batch/v1", "V1CronJob"],
  PodDisruptionBudget: ["policy/v1", "V1PodDisruptionBudget"],
  HorizontalPodAutoscaler: ["autoscaling/v2", "V2HorizontalPodAutoscaler"],
  NetworkPolicy: ["networking.k8s.io/v1", "V1NetworkPolicy"],
  Role: ["rbac.authorization.k8s.io/v1", "V1Role"],
  RoleBinding: ["rbac.authorization.k8s.io/v1", "V1RoleBinding"],
  ClusterRole: ["rbac.authorization.k8s.io/v1", "V1ClusterRole"],
  ClusterRoleBinding: ["rbac.authorization.k8s.io/v1", "V1ClusterRoleBinding"],
};

/** resource.Quantity is an int-or-string in the API ("cpu: 1" is fine); the models type it string. */
export const QUANTITIES = new Set(["V1ResourceRequirements.limits", "V1ResourceRequirements.requests", "V1VolumeResourceRequirements.limits", "V1VolumeResourceRequirements.requests", "V1EmptyDirVolumeSource.sizeLimit", "V1PodSpec.overhead"]);

/**
 * The models carry no enums; these are Kubernetes' own (`+enum` string types in k8s.io/api
 * core/v1/types.go, apps/v1/types.go, batch/v1/types.go @ 10b39a39, 2026-07-24), for the fields
 * of the models that use them. test/k8s-knowledge.test.ts checks each value against the field's
 * description in the client's models.
 */
export const CORE_ENUMS = {
  "V1Container.imagePullPolicy": ["Always", "Never", "IfNotPresent"], // PullPolicy
  "V1EphemeralContainer.imagePullPolicy": ["Always", "Never", "IfNotPresent"],
  "V1Container.terminationMessagePolicy": ["File", "FallbackToLogsOnError"], // TerminationMessagePolicy
  "V1EphemeralContainer.terminationMessagePolicy": ["File", "FallbackToLogsOnError"],
  "V1PodSpec.restartPolicy": ["Always", "OnFailure", "Never"], // RestartPolicy
  "V1PodSpec.dnsPolicy": ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"], // DNSPolicy
  "V1ContainerPort.protocol": ["TCP", "UDP", "SCTP"], // Protocol
  "V1ServicePort.protocol": ["TCP", "UDP", "SCTP"],
  "V1ServiceSpec.type": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"], // ServiceType
  "V1ServiceSpec.externalTrafficPolicy": ["Cluster", "Local"], // ServiceExternalTrafficPolicy
  "V1ServiceSpec.internalTrafficPolicy": ["Cluster", "Local"], // ServiceInternalTrafficPolicy
  "V1ServiceSpec.sessionAffinity": ["ClientIP", "None"], // ServiceAffinity
  "V1ServiceSpec.ipFamilyPolicy": ["SingleStack", "PreferDualStack", "RequireDualStack"], // IPFamilyPolicy
  "V1SeccompProfile.type": ["Unconfined", "RuntimeDefault", "Localhost"], // SeccompProfileType
  "V1DeploymentStrategy.type": ["Recreate", "RollingUpdate"], // DeploymentStrategyType
  "V1CronJobSpec.concurrencyPolicy": ["Allow", "Forbid", "Replace"], // ConcurrencyPolicy
};

/** Every core kind, with the models they reach (and ObjectMeta, for every kind's metadata) as shared definitions. */
export function coreSchemaFile() {
  const defs = {};
  const define = (name) => {
    if (defs[name]) return;
    const attributes = models[name]?.attributeTypeMap;
    if (!attributes) throw new Error(`@kubernetes/client-node has no model ${name}`);
    defs[name] = { type: "object", properties: {} };
    for (const a of attributes) {
      const field = `${name}.${a.baseName}`;
      defs[name].properties[a.baseName] = fieldType(a.type, a.format, QUANTITIES.has(field), define);
      if (CORE_ENUMS[field]) defs[name].properties[a.baseName].enum = CORE_ENUMS[field];
    }
  };
  const kinds = Object.entries(CORE_KINDS).map(([kind, [apiVersion, model]]) => {
    define(model);
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    return { group, kind, versions: [version], schema: { $ref: `#/$defs/${model}` } };
  });
  define("V1ObjectMeta");
  for (const field of Object.keys(CORE_ENUMS)) {
    const [model, name] = field.split(".");
    if (!defs[model]?.properties[name]) throw new Error(`CORE_ENUMS: no ${field} among the core kinds' models`);
  }
  const sorted = Object.fromEntries(Object.keys(defs).sort().map((k) => [k, defs[k]]));
  return { source: `@kubernetes/client-node ${client.version} models (Kubernetes' OpenAPI)`, defs: sorted, kinds };
}

/** An attributeTypeMap type ("Array<V1Container>", "{ [key: string]: string; }", "IntOrString", ...). */
function fieldType(type, format, quantity, define) {
  const list = /^Array<(.+)>$/.exec(type);
  if (list) return { type: "array", items: fieldType(list[1], format, quantity, define) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { type: "object", additionalProperties: fieldType(map[1], format, quantity, define) };
  if (quantity || type === "IntOrString") return { "x-kubernetes-int-or-string": true };
  if (type === "string" || type === "Date") return { type: "string" };
  if (type === "boolean") return { type: "boolean" };
  if (type === "number") return { type: format === "int32" || format === "int64" ? "integer" : "number" };
  if (type === "any") return {};
  define(type);
  return { $ref: `#/$defs/${type}` };
}
