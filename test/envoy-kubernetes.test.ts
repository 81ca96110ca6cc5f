// The Istio, Envoy Gateway and Kubernetes resources under envoy/: each kind's required fields,
// the checks across the documents of a file, and the policies they carry, judged by the module.
import { describe, expect, it } from "vitest";
import { type Doc, errors, validateChanged, warnings } from "./support/envoy-config.js";

const byKind = (docs: Doc[], kind: string, n = 0) => docs.filter((d) => d.kind === kind)[n];

describe("every resource", () => {
  it("needs a known kind, its API version and a DNS name", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      byKind(docs, "Deployment").apiVersion = "apps/v1beta1";
      byKind(docs, "ServiceAccount").metadata.name = "Failover_Sidecar";
      byKind(docs, "Namespace").kind = "Namespaces";
    });
    expect(errors(report)).toEqual([
      "Namespaces failover: kind: Namespaces is not a kind this validator knows (did you mean Namespace?); give its CustomResourceDefinition with --crds DIR",
      'ServiceAccount failover/Failover_Sidecar: metadata.name: "Failover_Sidecar" is not a DNS subdomain (lowercase letters, digits, \'-\' and \'.\')',
      'Deployment failover/failover-sidecar: apiVersion: Deployment is served as apps/v1, not "apps/v1beta1"',
    ]);
  });

  it("points each finding at the line of its document", async () => {
    const report = await validateChanged("envoy/istio/waypoint.yaml", (docs) => {
      byKind(docs, "WasmPlugin").spec.phase = "LATE";
    });
    const [finding] = report.findings;
    expect(finding.path).toBe("spec.phase");
    expect(Number(finding.where.split(":")[0])).toBeGreaterThan(60); // the third document, not the first
  });
});

describe("the sidecar's Deployment, Service and ConfigMap", () => {
  it("are least-privilege and probed on the admin port", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      const c = byKind(docs, "Deployment").spec.template.spec.containers[0];
      delete c.readinessProbe;
      c.livenessProbe.httpGet.port = "metrics";
      c.securityContext.allowPrivilegeEscalation = true;
      delete c.securityContext.readOnlyRootFilesystem;
      delete c.resources.limits;
    });
    const at = "Deployment failover/failover-sidecar: spec.template.spec.containers[0]";
    expect(errors(report)).toEqual([
      `${at}.readinessProbe: required: the sidecar answers /readyz and /healthz on its admin port`,
      `${at}.livenessProbe.httpGet.port: no container port is named "metrics"`,
      `${at}.resources.limits.memory: required: bound the sidecar's memory`,
      `${at}.securityContext.allowPrivilegeEscalation: must be false`,
      `${at}.securityContext.readOnlyRootFilesystem: must be true: the sidecar writes nothing`,
    ]);
  });

  it("start the sidecar on a policy file the mounted ConfigMap has", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      const args: string[] = byKind(docs, "Deployment").spec.template.spec.containers[0].args;
      args[args.indexOf("--policy") + 1] = "/etc/failover/policy.json";
    });
    expect(errors(report)).toEqual(["Deployment failover/failover-sidecar: spec.template.spec.containers[0].args[2]: ConfigMap failover-policy has no file policy.json (it has: policy.yaml)"]);
  });

  it("need a selector that matches the template and a Service that reaches a declared port", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      byKind(docs, "Deployment").spec.template.metadata.labels["app.kubernetes.io/name"] = "sidecar";
      byKind(docs, "Service").spec.ports[0].targetPort = "gprc";
    });
    expect(errors(report)).toEqual([
      "Deployment failover/failover-sidecar: spec.template.metadata.labels: must carry the selector's app.kubernetes.io/name: failover-sidecar (Kubernetes rejects a selector that does not match the template)",
    ]);
    expect(warnings(report)).toEqual(["Service failover/failover-sidecar: spec.selector: selects no Deployment defined in this file"]);
  });

  it("a Service port name must be a container port of the pods it selects", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      byKind(docs, "Service").spec.ports[0].targetPort = "gprc";
    });
    expect(errors(report)).toEqual(['Service failover/failover-sidecar: spec.ports[0].targetPort: no container port of the selected pods is named "gprc"']);
  });

  it("the ConfigMap's policy is judged by the module", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      const cm = byKind(docs, "ConfigMap");
      cm.data["policy.yaml"] = cm.data["policy.yaml"].replace("mode: named", "mode: nearest");
    });
    expect(errors(report)).toEqual([
      expect.stringMatching(/^ConfigMap failover\/failover-policy: data\["policy\.yaml"\]: the failover module rejects the policy: failover: policy: routes\[0\]\.destination\.mode: .*"nearest"/),
    ]);
  });
});

describe("Istio", () => {
  it("a WasmPlugin's file URL must be the module, its enums Istio's, and its policy one the module accepts", async () => {
    const report = await validateChanged("envoy/istio/ingress-gateway.yaml", (docs) => {
      const w = byKind(docs, "WasmPlugin");
      w.spec.url = "file:///var/local/wasm/filter.wasm";
      w.spec.failStrategy = "FAIL_OPN";
      w.spec.pluginConfig.health.outlierDetection.maxEjectionPercent = 150;
    });
    expect(errors(report)).toEqual([
      'WasmPlugin istio-system/failover: spec.url: points at "filter.wasm", not the failover module (failover.wasm)',
      'WasmPlugin istio-system/failover: spec.failStrategy: "FAIL_OPN" is not one of: FAIL_CLOSE, FAIL_OPEN, FAIL_RELOAD',
      expect.stringMatching(/^WasmPlugin istio-system\/failover: spec\.pluginConfig\.health\.outlierDetection\.maxEjectionPercent: the failover module rejects the policy: failover: policy: health\.outlierDetection\.maxEjectionPercent: .*150/),
    ]);
  });

  it("a waypoint's WasmPlugin targets the waypoint Gateway, not a selector as well", async () => {
    const report = await validateChanged("envoy/istio/waypoint.yaml", (docs) => {
      const w = byKind(docs, "WasmPlugin");
      w.spec.selector = { matchLabels: { app: "helloworld" } };
      w.spec.targetRefs[0].group = "networking.istio.io";
    });
    expect(errors(report)).toEqual([
      "WasmPlugin sample/failover: spec: selector and targetRefs cannot both be set",
      "WasmPlugin sample/failover: spec.targetRefs[0].group: a Gateway (such as a waypoint) is in group gateway.networking.k8s.io",
    ]);
  });

  it("every cluster of the policy needs a VirtualService route on the routing header, to a subset that exists", async () => {
    const report = await validateChanged("envoy/istio/waypoint.yaml", (docs) => {
      const vs = byKind(docs, "VirtualService");
      vs.spec.http.splice(1, 1); // the route for helloworld-cluster2
      vs.spec.http[0].route[0].destination.subset = "cluster-1";
      vs.spec.http[0].match[0].headers["x-failover-upstream"].exact = "helloworld-c1";
    });
    expect(errors(report)).toEqual([
      'VirtualService sample/helloworld: spec.http[0].route[0].destination.subset: no DestinationRule for helloworld.sample.svc.cluster.local in this file defines subset "cluster-1"',
      'VirtualService sample/helloworld: spec.http[0].match[0].headers["x-failover-upstream"].exact: "helloworld-c1" is not a cluster of the policy of WasmPlugin sample/failover (helloworld-cluster1, helloworld-cluster2)',
      "VirtualService sample/helloworld: spec.http: no route matches x-failover-upstream: helloworld-cluster1, helloworld-cluster2; when the filter picks one of them, the request would not go there",
    ]);
  });

  it("a policy for Istio cannot name aggregate clusters", async () => {
    const report = await validateChanged("envoy/istio/waypoint.yaml", (docs) => {
      byKind(docs, "WasmPlugin").spec.pluginConfig.aggregates = [{ name: "both", clusters: ["helloworld-cluster1", "helloworld-cluster2"] }];
    });
    expect(errors(report)).toEqual([
      "VirtualService sample/helloworld: spec.http: the policy of WasmPlugin sample/failover names aggregate clusters, which a VirtualService cannot route to: drop aggregates (and acrossClusters) from a policy for Istio",
    ]);
  });

  it("DestinationRule labels are strings and durations Go durations", async () => {
    const report = await validateChanged("envoy/istio/ingress-gateway.yaml", (docs) => {
      const dr = byKind(docs, "DestinationRule");
      dr.spec.subsets[1].labels["topology.kubernetes.io/zone"] = 200002;
      dr.spec.trafficPolicy.outlierDetection.interval = "10 seconds";
    });
    expect(errors(report)).toEqual([
      'DestinationRule base/user: spec.subsets[1].labels["topology.kubernetes.io/zone"]: expected a string, got a number (quote it)',
      'DestinationRule base/user: spec.trafficPolicy.outlierDetection.interval: expected a duration such as "10s" or "1m", got "10 seconds"',
    ]);
  });

  it("an EnvoyFilter's patch is an Envoy proto, decoded strictly, and ext_proc goes before the router", async () => {
    const report = await validateChanged("envoy/istio/ingress-gateway-extproc.yaml", ([ef]) => {
      const p = ef.spec.configPatches[0];
      p.patch.operation = "ADD";
      p.patch.value.typed_config.failure_mode_alow = true;
      p.patch.value.typed_config.request_attributes.push("xds.node.locality.country");
    });
    const at = "EnvoyFilter istio-system/failover-ext-proc: spec.configPatches[0]";
    expect(errors(report)).toEqual([
      `${at}.patch.value.typed_config.failure_mode_alow: unknown field "failure_mode_alow" in envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor (did you mean failure_mode_allow?)`,
      `${at}.patch.operation: ADD puts the ext_proc filter after envoy.filters.http.router; use INSERT_BEFORE with match.listener.filterChain.filter.subFilter.name: envoy.filters.http.router`,
      `${at}.patch.value.typed_config.request_attributes[6]: "xds.node.locality.country": envoy.config.core.v3.Locality has no field "country"`,
    ]);
  });

  it("a MERGE patch is a fragment: Envoy's required fields are Istio's to fill", async () => {
    const report = await validateChanged("envoy/istio/ingress-gateway.yaml", (docs) => {
      byKind(docs, "EnvoyFilter").spec.configPatches[0].patch.value.typed_config.early_header_mutation_extensions[0].typed_config.mutations[0] = { remve: "x" };
    });
    expect(errors(report)).toEqual([
      'EnvoyFilter istio-system/failover-strip-routing-header: spec.configPatches[0].patch.value.typed_config.early_header_mutation_extensions[0].typed_config.mutations[0].remve: unknown field "remve" in envoy.config.common.mutation_rules.v3.HeaderMutation (did you mean remove?)',
    ]);
  });
});

describe("Envoy Gateway", () => {
  it("ext_proc fails open, sends headers only, and asks only for attributes Envoy Gateway passes", async () => {
    const report = await validateChanged("envoy/gateway/extproc.yaml", (docs) => {
      const e = byKind(docs, "EnvoyExtensionPolicy").spec.extProc[0];
      e.failOpen = false;
      e.processingMode.request.body = "Buffered";
      e.processingMode.response.attributes = ["response.code", "xds.cluster_name"];
      e.messageTimeout = "0.2s";
    });
    const at = "EnvoyExtensionPolicy base/failover-ext-proc: spec.extProc[0]";
    expect(errors(report)).toEqual([
      `${at}.messageTimeout: expected a duration such as "200ms", got "0.2s"`,
      `${at}.failOpen: must be true: a down or slow sidecar must not fail requests`,
      `${at}.processingMode.request.body: the sidecar never reads bodies: leave body out`,
      `${at}.processingMode.response.attributes[1]: "xds.cluster_name": Envoy Gateway accepts only connection.*, source.*, destination.*, request.*, response.*, upstream.* and xds.route_* attributes`,
      `${at}.processingMode.response.attributes: must include response.flags, upstream.request_attempt_count: the sidecar learns each outcome from them`,
    ]);
  });

  it("a Wasm extension carries a policy the module accepts, from a code source it can fetch", async () => {
    const report = await validateChanged("envoy/gateway/wasm.yaml", ([p]) => {
      p.spec.wasm[0].code = { type: "OCI", image: { url: "x" } };
      delete p.spec.wasm[0].config.routes;
    });
    const at = "EnvoyExtensionPolicy base/failover-wasm: spec.wasm[0]";
    expect(errors(report)).toEqual([
      `${at}.code.type: "OCI" is not one of: HTTP, Image`,
      expect.stringMatching(/^EnvoyExtensionPolicy base\/failover-wasm: spec\.wasm\[0\]\.config\.routes: the failover module rejects the policy: failover: policy: routes: /),
    ]);
  });

  it("policies target Gateway API resources", async () => {
    const report = await validateChanged("envoy/gateway/wasm.yaml", ([p]) => {
      p.spec.targetRefs[0] = { group: "networking.istio.io", kind: "VirtualService", name: "user" };
    });
    expect(errors(report)).toEqual([
      "EnvoyExtensionPolicy base/failover-wasm: spec.targetRefs[0].group: must be gateway.networking.k8s.io",
      'EnvoyExtensionPolicy base/failover-wasm: spec.targetRefs[0].kind: "VirtualService" is not one of: Gateway, ListenerSet, HTTPRoute, GRPCRoute, UDPRoute, TCPRoute, TLSRoute',
    ]);
  });

  it("an HTTPRoute needs parents and backends, a ReferenceGrant its from and to", async () => {
    const route = await validateChanged("envoy/gateway/route.yaml", ([r]) => {
      delete r.spec.parentRefs;
      delete r.spec.rules[0].matches[0].headers[0].value;
    });
    expect(errors(route)).toEqual([
      "HTTPRoute base/user: spec.parentRefs: needs at least 1 item",
      "HTTPRoute base/user: spec.rules[0].matches[0].headers[0].value: required",
    ]);
    const grant = await validateChanged("envoy/gateway/extproc.yaml", (docs) => {
      delete byKind(docs, "ReferenceGrant").spec.to;
    });
    expect(errors(grant)).toEqual(["ReferenceGrant failover/failover-sidecar-from-base: spec.to: needs at least 1 item"]);
  });
});
