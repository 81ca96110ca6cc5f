// Renders the Kubernetes resources of the ext_proc sidecar (one Deployment shared by the
// proxies, its Service and its policy in a ConfigMap) and the Envoy Gateway resources that put
// the filter, or the sidecar, on the ingress role's route.

import { FAILOVER_WASM } from "../../module/failover-module.js";
import { VERSION } from "../../version.js";
import { wasmImageDigest } from "../../module/wasm-image.js";
import { REQUEST_ATTRIBUTES, RESPONSE_ATTRIBUTES, statsTagsBootstrap } from "./bootstrap.js";
import { ROUTING_HEADER, type Role, policyFor } from "./topology.js";
import { stringifyYaml } from "./render.js";

type Obj = Record<string, unknown>;

export const SIDECAR_SERVICE = { name: "failover-sidecar", namespace: "failover", port: 50051, adminPort: 9902 };
const SIDECAR_IMAGE = "envoy-failover:0.1.0";
const POLICY_DIR = "/etc/failover";
const LABELS = { "app.kubernetes.io/name": "failover-sidecar", "app.kubernetes.io/part-of": "envoy-failover" };
/** The Envoy Gateway Gateway the route attaches to (the quickstart's). */
const EG_GATEWAY = { name: "eg", namespace: "default" };
const EG_WASM_IMAGE = "registry.example.com/envoy-failover/failover-wasm:0.1.0";
// Envoy Gateway forwards no xds.node attributes (only xds.route_*): the sidecar gets the client
// address and the outcome.
const EG_REQUEST_ATTRIBUTES = REQUEST_ATTRIBUTES.filter((a) => !a.startsWith("xds."));
const EG_RESPONSE_ATTRIBUTES = RESPONSE_ATTRIBUTES.filter((a) => !a.startsWith("xds."));

/**
 * The sidecar's resources, serving the Kubernetes policy of `role` (its proxies call it). The
 * role's locality is the sidecar's fallback for proxies that send no xds.node (Envoy Gateway).
 */
export function sidecarManifests(role: Role): Obj[] {
  const { name, namespace, port, adminPort } = SIDECAR_SERVICE;
  const policy = policyFor(role, { aggregates: false });
  const locality = [role.node.region ?? "", role.node.zone ?? ""].join("/");
  const meta = { name, namespace, labels: LABELS };
  const configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "failover-policy", namespace, labels: LABELS }, data: { "policy.yaml": stringifyYaml(policy) } };
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta,
    spec: {
      // One replica holds one health view for every proxy that calls it, the point of the
      // sidecar; proxies fail open (to Envoy's own routing) while it restarts.
      replicas: 1,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS, annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(adminPort), "prometheus.io/path": "/metrics" } },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: [{
            name: "sidecar",
            image: SIDECAR_IMAGE,
            // The built CLI directly (not bin/failover.js, which rebuilds what is stale): the image
            // carries dist/ and build/failover.wasm, and its filesystem is read-only.
            command: ["node", "/app/dist/cli.js"],
            args: ["serve", "--policy", `${POLICY_DIR}/policy.yaml`, "--host", "0.0.0.0", "--port", String(port), "--admin-host", "0.0.0.0", "--admin-port", String(adminPort), "--locality", locality],
            ports: [{ name: "grpc", containerPort: port }, { name: "admin", containerPort: adminPort }],
            readinessProbe: { httpGet: { path: "/readyz", port: "admin" }, periodSeconds: 5, failureThreshold: 2 },
            livenessProbe: { httpGet: { path: "/healthz", port: "admin" }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "256Mi" } },
            securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
            volumeMounts: [{ name: "policy", mountPath: POLICY_DIR, readOnly: true }],
          }],
          volumes: [{ name: "policy", configMap: { name: "failover-policy" } }],
        },
      },
    },
  };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta,
    spec: {
      selector: LABELS,
      // appProtocol grpc: Istio and Envoy Gateway call it over HTTP/2.
      ports: [{ name: "grpc", port, targetPort: "grpc", appProtocol: "grpc" }],
    },
  };
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: LABELS } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta, automountServiceAccountToken: false },
    configMap,
    deployment,
    service,
  ];
}

/** An HTTPRoute that sends each policy cluster's name in the routing header to that cluster's Service. */
export function gatewayRoute(role: Role): Obj {
  const k = role.kubernetes!;
  const path = { path: { type: "PathPrefix", value: role.route.pathPrefix ?? "/" } };
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: k.service, namespace: k.namespace },
    spec: {
      parentRefs: [EG_GATEWAY],
      rules: [
        ...role.upstreams.map((u) => ({
          matches: [{ ...path, headers: [{ type: "Exact", name: ROUTING_HEADER, value: u.name }] }],
          backendRefs: [{ name: u.service!, port: k.port }],
        })),
        // No filter decided: the service's own endpoints.
        { matches: [path], backendRefs: [{ name: k.service, port: k.port }] },
      ],
    },
  };
}

export function gatewayWasmPolicy(role: Role): Obj {
  return extensionPolicy(role, "failover-wasm", {
    wasm: [{
      name: "failover",
      // Envoy Gateway: the sha256 "must match the digest of the OCI image" (api/v1alpha1/wasm_types.go).
      code: { type: "Image", image: { url: EG_WASM_IMAGE, sha256: wasmImageDigest(FAILOVER_WASM, VERSION) } },
      config: policyFor(role, { aggregates: false }),
      failOpen: true,
    }],
  });
}

/** The ext_proc policy, and the grant that lets it name the sidecar's Service in its namespace. */
export function gatewayExtProcPolicy(role: Role): Obj[] {
  const k = role.kubernetes!;
  const policy = extensionPolicy(role, "failover-ext-proc", {
    extProc: [{
      backendRefs: [{ name: SIDECAR_SERVICE.name, namespace: SIDECAR_SERVICE.namespace, port: SIDECAR_SERVICE.port }],
      messageTimeout: "200ms",
      failOpen: true,
      processingMode: { request: { attributes: EG_REQUEST_ATTRIBUTES }, response: { attributes: EG_RESPONSE_ATTRIBUTES } },
    }],
  });
  const grant = {
    apiVersion: "gateway.networking.k8s.io/v1beta1",
    kind: "ReferenceGrant",
    metadata: { name: `failover-sidecar-from-${k.namespace}`, namespace: SIDECAR_SERVICE.namespace },
    spec: {
      from: [{ group: "gateway.envoyproxy.io", kind: "EnvoyExtensionPolicy", namespace: k.namespace }],
      to: [{ group: "", kind: "Service", name: SIDECAR_SERVICE.name }],
    },
  };
  return [policy, grant];
}

function extensionPolicy(role: Role, name: string, body: Obj): Obj {
  return routePolicy(role, "EnvoyExtensionPolicy", name, body);
}

/** An Envoy Gateway policy of `kind` on the role's HTTPRoute, in the route's namespace. */
function routePolicy(role: Role, kind: string, name: string, body: Obj): Obj {
  const k = role.kubernetes!;
  return egPolicy(kind, { name, namespace: k.namespace }, { kind: "HTTPRoute", name: k.service }, body);
}

/** The envelope every Envoy Gateway policy shares: its kind, where it lives, what it targets; `body` is the rest of its spec. */
function egPolicy(kind: string, metadata: { name: string; namespace: string }, target: { kind: string; name: string }, body: Obj): Obj {
  return {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind,
    metadata,
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", ...target }], ...body },
  };
}

/**
 * Removes a client's copy of every header the filter owns before routing, on every listener of
 * the Gateway: Envoy Gateway turns headers.earlyRequestHeaders.remove into the HCM's early header
 * mutation, one `remove` per name (internal/xds/translator/listener.go@d32f2829
 * buildEarlyHeaderMutation, header_mutation.go buildHeaderMutationRules; Envoy Gateway >= 1.2).
 */
export function gatewayClientTrafficPolicy(owned: readonly string[]): Obj {
  if (owned.length > 64) throw new Error(`earlyRequestHeaders.remove takes at most 64 names; the module owns ${owned.length}`);
  return egPolicy("ClientTrafficPolicy", { name: "failover-strip-owned-headers", namespace: EG_GATEWAY.namespace },
    { kind: "Gateway", name: EG_GATEWAY.name }, { headers: { earlyRequestHeaders: { remove: [...owned] } } });
}

/**
 * Retries for the ext_proc form: Envoy Gateway emits no ext_proc mutation_rules
 * (internal/xds/translator/extproc.go@d32f2829), so Envoy drops the sidecar's x-envoy-* retry
 * headers; the route's own retry policy, from the role, retries in the chosen Service instead.
 */
export function gatewayRetryPolicy(role: Role): Obj {
  return routePolicy(role, "BackendTrafficPolicy", "failover-retry", {
    retry: {
      numRetries: role.retry.numRetries,
      retryOn: { triggers: role.retry.retryOn.split(",") },
      perRetry: { timeout: `${role.retry.perTryTimeoutSeconds}s` },
    },
  });
}

/**
 * The Envoy Gateway proxy's bootstrap, merged with Envoy Gateway's own (lists appended:
 * internal/xds/bootstrap/util.go@d32f2829 uses proto.Merge), adding the filter's stats_tags.
 * Name it in the Gateway's spec.infrastructure.parametersRef (or the GatewayClass's).
 */
export function gatewayEnvoyProxy(): Obj {
  return {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: "EnvoyProxy",
    metadata: { name: "failover", namespace: EG_GATEWAY.namespace },
    spec: { bootstrap: { type: "Merge", value: stringifyYaml(statsTagsBootstrap()) } },
  };
}
