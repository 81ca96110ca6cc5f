// Renders the Istio resources of the ingress and waypoint roles.
//
// Istio generates the Envoy routes and clusters (outbound|7000|zone1|user.base.svc.cluster.local),
// so the routing header is read the Istio way: a VirtualService route per policy cluster that
// matches the header's value and goes to a DestinationRule subset selecting that cluster's
// endpoints by the topology labels Istio gives every endpoint (topology.kubernetes.io/zone,
// topology.istio.io/cluster). A last route without the header keeps Istio's own locality
// failover for requests no filter decided. This works on gateways and on waypoints alike;
// patching the generated routes to cluster_header with an EnvoyFilter ties the config to Istio's
// internal cluster names, and EnvoyFilter is not applied to waypoints at all.

import { FAILOVER_WASM } from "../../module/failover-module.js";
import { VERSION } from "../../version.js";
import { wasmImageDigest } from "../../module/wasm-image.js";
import { extProcConfig, statsTagsBootstrap, stripOwnedHeaders } from "./bootstrap.js";
import { SIDECAR_SERVICE } from "./kubernetes.js";
import { stringifyYaml } from "./render.js";
import { ROUTING_HEADER, type Role, policyFor } from "./topology.js";

type Obj = Record<string, unknown>;

const WASM_OCI_URL = "oci://registry.example.com/envoy-failover/failover-wasm:0.1.0";
/** Where an ingress gateway pod mounts the module (a volume the operator adds to the gateway). */
const WASM_FILE_URL = "file:///var/local/wasm/failover.wasm";
const GATEWAY_SELECTOR = { istio: "ingressgateway" };
const ISTIO_NAMESPACE = "istio-system";
const WAYPOINT_REF = { kind: "Gateway", group: "gateway.networking.k8s.io", name: "waypoint" };
export const BOOTSTRAP_CONFIGMAP = "failover-bootstrap";
export const WAYPOINT_PARAMETERS = "failover-waypoint";

/** The policy for Istio: no aggregates (Istio has no such clusters), retries stay in the chosen subset. */
function istioPolicy(role: Role): Obj {
  return policyFor(role, { aggregates: false });
}

export function destinationRule(role: Role): Obj {
  const k = role.kubernetes!;
  const o = role.outlier;
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: k.service, namespace: k.namespace },
    spec: {
      host: k.host,
      trafficPolicy: {
        loadBalancer: {
          simple: "ROUND_ROBIN",
          localityLbSetting: { enabled: true, ...(role.failoverPriority ? { failoverPriority: role.failoverPriority } : {}) },
        },
        outlierDetection: {
          ...(o.consecutive5xx !== undefined ? { consecutive5xxErrors: o.consecutive5xx } : {}),
          ...(o.consecutiveGatewayErrors !== undefined ? { consecutiveGatewayErrors: o.consecutiveGatewayErrors } : {}),
          interval: `${o.intervalSeconds}s`,
          baseEjectionTime: `${o.baseEjectionSeconds}s`,
          maxEjectionPercent: o.maxEjectionPercent,
          ...(o.minHealthPercent !== undefined ? { minHealthPercent: o.minHealthPercent } : {}),
        },
      },
      subsets: role.upstreams.map((u) => ({ name: u.subset!.name, labels: u.subset!.labels })),
    },
  };
}

export function virtualService(role: Role, gateways?: string[]): Obj {
  const k = role.kubernetes!;
  const uri = role.route.pathPrefix ? { uri: { prefix: role.route.pathPrefix } } : {};
  const destination = (subset?: string) => ({ destination: { host: k.host, ...(subset ? { subset } : {}), port: { number: k.port } } });
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: k.service, namespace: k.namespace },
    spec: {
      hosts: gateways ? ["*"] : [k.host],
      ...(gateways ? { gateways } : {}),
      http: [
        ...role.upstreams.map((u) => ({
          name: u.name,
          match: [{ ...uri, headers: { [ROUTING_HEADER]: { exact: u.name } } }],
          route: [destination(u.subset!.name)],
        })),
        { name: `${role.route.name}-fail-open`, ...(role.route.pathPrefix ? { match: [uri] } : {}), route: [destination()] },
      ],
    },
  };
}

/** The ingress gateway's Wasm plugin: the module from a file mounted into the gateway pod. */
export function ingressWasmPlugin(role: Role): Obj {
  return wasmPlugin(role, ISTIO_NAMESPACE, { selector: { matchLabels: GATEWAY_SELECTOR } }, { url: WASM_FILE_URL });
}

/** The waypoint's Wasm plugin: the module from an OCI image, bound to the waypoint Gateway. */
export function waypointWasmPlugin(role: Role): Obj {
  // For oci:// Istio's agent compares sha256 with the image's manifest digest (pkg/wasm/cache.go);
  // `failover image` builds that image from the module, so the digest follows from its bytes.
  return wasmPlugin(role, role.kubernetes!.namespace, { targetRefs: [WAYPOINT_REF] }, { url: WASM_OCI_URL, sha256: wasmImageDigest(FAILOVER_WASM, VERSION), imagePullPolicy: "IfNotPresent" });
}

function wasmPlugin(role: Role, namespace: string, target: Obj, source: Obj): Obj {
  return {
    apiVersion: "extensions.istio.io/v1alpha1",
    kind: "WasmPlugin",
    metadata: { name: "failover", namespace },
    spec: {
      ...target,
      ...source,
      // After Istio's authn and authz filters: denied requests never count against a cluster.
      phase: "STATS",
      // A failed VM is skipped: the VirtualService's last route keeps Istio's own failover.
      failStrategy: "FAIL_OPEN",
      type: "HTTP",
      pluginConfig: istioPolicy(role),
    },
  };
}

/**
 * Removes a client's copy of every header the filter owns before any routing (the HCM's early
 * header mutation, which Istio does not set itself, so a MERGE adds it), so only the filter sets
 * them. An ingress gateway takes EnvoyFilter; a waypoint does not (waypointDenyOwnedHeaders).
 */
export function stripOwnedHeadersFilter(owned: readonly string[]): Obj {
  return gatewayEnvoyFilter("failover-strip-owned-headers", {
    applyTo: "NETWORK_FILTER",
    match: { context: "GATEWAY", listener: { filterChain: { filter: { name: "envoy.filters.network.http_connection_manager" } } } },
    patch: {
      operation: "MERGE",
      value: {
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          early_header_mutation_extensions: [stripOwnedHeaders(owned)],
        },
      },
    },
  });
}

/** Inserts the ext_proc filter before the router of the ingress gateway, calling the sidecar's Service. */
export function extProcEnvoyFilter(): Obj {
  return gatewayEnvoyFilter("failover-ext-proc", {
    applyTo: "HTTP_FILTER",
    match: {
      context: "GATEWAY",
      listener: { filterChain: { filter: { name: "envoy.filters.network.http_connection_manager", subFilter: { name: "envoy.filters.http.router" } } } },
    },
    patch: {
      operation: "INSERT_BEFORE",
      value: {
        name: "envoy.filters.http.ext_proc",
        // Istio's cluster for the sidecar's Service port (HTTP/2: the port's appProtocol is grpc).
        typed_config: extProcConfig(`outbound|${SIDECAR_SERVICE.port}||${SIDECAR_SERVICE.name}.${SIDECAR_SERVICE.namespace}.svc.cluster.local`),
      },
    },
  });
}

/** An EnvoyFilter in the ingress gateway's namespace, selecting the gateway, with one config patch. */
function gatewayEnvoyFilter(name: string, patch: Obj): Obj {
  return {
    apiVersion: "networking.istio.io/v1alpha3",
    kind: "EnvoyFilter",
    metadata: { name, namespace: ISTIO_NAMESPACE },
    spec: { workloadSelector: { labels: GATEWAY_SELECTOR }, configPatches: [patch] },
  };
}

/**
 * The waypoint's guard: a waypoint takes no EnvoyFilter, so nothing can remove a client's headers
 * before routing there; instead a DENY policy refuses any request that carries a header the filter
 * owns. Istio runs the authorization filters before a WasmPlugin of phase STATS
 * (pilot/pkg/networking/core/listener_builder.go@86c9f01f:480-487, waypoints included), and
 * `values: ["*"]` is a presence match (pilot/pkg/security/authz/matcher/header.go@86c9f01f), so a
 * client's x-failover-upstream is refused whether or not the Wasm VM runs.
 */
export function waypointDenyOwnedHeaders(role: Role, owned: readonly string[]): Obj {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "failover-deny-owned-headers", namespace: role.kubernetes!.namespace },
    spec: {
      targetRefs: [WAYPOINT_REF],
      action: "DENY",
      // One rule per header: rules are ORed, the conditions of one rule ANDed.
      rules: owned.map((name) => ({ when: [{ key: `request.headers[${name}]`, values: ["*"] }] })),
    },
  };
}

/**
 * The ConfigMap Istio merges into a proxy's bootstrap: pilot-agent passes its
 * custom_bootstrap.json to Envoy as --config-yaml (pkg/envoy/proxy.go@86c9f01f), which Envoy
 * merges into the generated bootstrap, lists appended. A gateway pod picks it with the annotation
 * sidecar.istio.io/bootstrapOverride: failover-bootstrap (gateway-injection-template.yaml@86c9f01f).
 */
export function istioBootstrapOverride(namespace: string): Obj {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: BOOTSTRAP_CONFIGMAP, namespace },
    data: { "custom_bootstrap.json": `${JSON.stringify(statsTagsBootstrap(), null, 2)}\n` },
  };
}

/**
 * A waypoint's pods come from Istio's waypoint template, which has no bootstrapOverride; the
 * Gateway's spec.infrastructure.parametersRef names a ConfigMap whose `deployment` overlay Istio
 * merges into the Deployment it generates (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go@86c9f01f).
 * The overlay mounts the bootstrap ConfigMap and points ISTIO_BOOTSTRAP_OVERRIDE at it.
 */
export function waypointParameters(role: Role): Obj {
  const overlay = {
    spec: {
      template: {
        spec: {
          containers: [{
            name: "istio-proxy",
            env: [{ name: "ISTIO_BOOTSTRAP_OVERRIDE", value: "/etc/istio/custom-bootstrap/custom_bootstrap.json" }],
            volumeMounts: [{ name: "failover-bootstrap", mountPath: "/etc/istio/custom-bootstrap", readOnly: true }],
          }],
          volumes: [{ name: "failover-bootstrap", configMap: { name: BOOTSTRAP_CONFIGMAP } }],
        },
      },
    },
  };
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: WAYPOINT_PARAMETERS, namespace: role.kubernetes!.namespace },
    data: { deployment: stringifyYaml(overlay) },
  };
}
