// The Istio, Envoy Gateway and Kubernetes resources under envoy/: each kind's required fields,
// the checks across the documents of a file, and the policies they carry, judged by the module;
// and every field of every resource against its kind's schema (unknown fields, types, enums).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KnownKinds } from "../extproc/envoy-config/validate/k8s-knowledge.js";
import { validateText } from "../extproc/envoy-config/validate/index.js";
import { type Doc, errors, validateChanged, warnings } from "./support/envoy-config.js";
import { root } from "./support/wasm.js";

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
      'EnvoyFilter istio-system/failover-strip-owned-headers: spec.configPatches[0].patch.value.typed_config.early_header_mutation_extensions[0].typed_config.mutations[0].remve: unknown field "remve" in envoy.config.common.mutation_rules.v3.HeaderMutation (did you mean remove?)',
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

/** Validates YAML written in the test, as a file of Kubernetes resources. */
const validateYaml = (text: string, known?: KnownKinds) => validateText(text, join(root, "envoy", "test.yaml"), { known });

describe("every field, against its kind's schema", () => {
  it("catches the typos of issue 14, each at its path, with the field meant", async () => {
    const istio = await validateChanged("envoy/istio/ingress-gateway.yaml", (docs) => {
      byKind(docs, "DestinationRule").spec.bogusField = true;
      const w = byKind(docs, "WasmPlugin").spec;
      w.failStratgy = w.failStrategy;
      delete w.failStrategy;
    });
    expect(errors(istio)).toEqual([
      'DestinationRule base/user: spec.bogusField: unknown field "bogusField" (known here: exportTo, host, subsets, trafficPolicy, workloadSelector)',
      'WasmPlugin istio-system/failover: spec.failStratgy: unknown field "failStratgy" (did you mean failStrategy?)',
    ]);
    const eg = await validateChanged("envoy/gateway/wasm.yaml", ([p]) => {
      p.spec.wasm[0].failopen = p.spec.wasm[0].failOpen;
      delete p.spec.wasm[0].failOpen;
    });
    expect(errors(eg)).toEqual(['EnvoyExtensionPolicy base/failover-wasm: spec.wasm[0].failopen: unknown field "failopen" (did you mean failOpen?)']);
    const core = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      byKind(docs, "Deployment").spec.replicaz = 2;
    });
    expect(errors(core)).toEqual(['Deployment failover/failover-sidecar: spec.replicaz: unknown field "replicaz" (did you mean replicas?)']);
    const [finding] = core.findings.filter((f) => f.severity === "error");
    expect(finding.where).toMatch(/^\d+:\d+$/);
  });

  it("finds unknown fields at any depth and in metadata, wrong types and values outside an enum", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      const d = byKind(docs, "Deployment");
      d.metadata.lables = { a: "b" };
      const c = d.spec.template.spec.containers[0];
      c.imagePullPolicy = 1;
      c.resources.limits.cpu = 1; // a Quantity may be a number
      c.readinessProbe.httpGet.paht = "/readyz";
      d.spec.template.spec.securityContext.runAsUser = "1000";
      byKind(docs, "Service").spec.tpye = "ClusterIP";
    });
    const at = "Deployment failover/failover-sidecar: spec.template.spec";
    expect(errors(report)).toEqual([
      'Deployment failover/failover-sidecar: metadata.lables: unknown field "lables" (did you mean labels?)',
      `${at}.containers[0].imagePullPolicy: expected a string, got a number (quote it)`,
      `${at}.containers[0].readinessProbe.httpGet.paht: unknown field "paht" (did you mean path or port?)`,
      `${at}.securityContext.runAsUser: expected an integer, got a string`,
      'Service failover/failover-sidecar: spec.tpye: unknown field "tpye" (did you mean type?)',
    ]);
    const istio = await validateChanged("envoy/istio/ingress-gateway.yaml", (docs) => {
      const dr = byKind(docs, "DestinationRule").spec.trafficPolicy;
      dr.loadBalancer.simple = "ROUND_ROBN";
      dr.outlierDetection.maxEjectionPercent = "100";
      byKind(docs, "VirtualService").spec.http[0].match[0].uri.exact = "/user";
      byKind(docs, "VirtualService").specs = {};
    });
    expect(errors(istio)).toEqual([
      'DestinationRule base/user: spec.trafficPolicy.loadBalancer.simple: "ROUND_ROBN" is not one of: UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST',
      "DestinationRule base/user: spec.trafficPolicy.outlierDetection.maxEjectionPercent: expected an integer, got a string",
      'VirtualService base/user: specs: unknown field "specs" (did you mean spec?)',
      "VirtualService base/user: spec.http[0].match[0].uri: set at most one of: exact, prefix, regex (this sets exact, prefix)",
    ]);
  });

  it("knows the core kinds' enums (Kubernetes' own, which the client's models leave out)", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      byKind(docs, "Deployment").spec.template.spec.containers[0].imagePullPolicy = "IfNotPresnt";
      byKind(docs, "Service").spec.type = "Internal";
    });
    expect(errors(report)).toEqual([
      'Deployment failover/failover-sidecar: spec.template.spec.containers[0].imagePullPolicy: "IfNotPresnt" is not one of: Always, Never, IfNotPresent',
      'Service failover/failover-sidecar: spec.type: "Internal" is not one of: ClusterIP, NodePort, LoadBalancer, ExternalName',
    ]);
  });

  it("checks each item of a List (kubectl get -o yaml), pointing at the item's line", async () => {
    const text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ServiceAccount\n    metadata: { name: a }\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: { name: b }\n    dta: {}\n";
    const report = await validateYaml(text);
    expect(errors(report)).toEqual(['ConfigMap b: dta: unknown field "dta" (did you mean data?)']);
    expect(report.findings[0].where).toBe("10:5");
  });

  it("treats a member set to null as unset, as the API server does", async () => {
    const report = await validateChanged("envoy/kubernetes/sidecar.yaml", (docs) => {
      byKind(docs, "Deployment").metadata.creationTimestamp = null;
      byKind(docs, "Deployment").status = {};
    });
    expect(errors(report)).toEqual([]);
  });

  it("checks the Istio and Gateway API Gateways, AuthorizationPolicy, Envoy Gateway's policies, SecurityPolicy and EnvoyProxy, and PrometheusRule", async () => {
    const report = await validateYaml(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: apis-gw, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocl: HTTP }, hosts: ["*"] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: eg, namespace: base }
spec:
  gatewayClassName: eg
  listeners: [{ name: http, port: 80, protocol: HTTP, allowedRoute: {} }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-routing-header, namespace: sample }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
  action: REJECT
  rules: [{ when: [{ key: "request.headers[x-failover-upstream]", value: ["*"] }] }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: strip, namespace: base }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: eg }]
  headers: { earlyRequestHeaders: { remove: [x-failover-upstream] }, earlyRequestHeader: {} }
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: retry, namespace: base }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: user }]
  retry: { numRetries: two, retryOn: { triggers: [connect-failure, "5xx"] } }
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: { name: authz, namespace: base }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: user }]
  authorization: { defaultAction: Deny, rule: [] }
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: { name: proxy, namespace: envoy-gateway-system }
spec:
  bootstrap: { type: Merge, vaule: "stats_config: {}" }
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: { name: failover, namespace: monitoring }
spec:
  groups:
    - name: failover
      rules: [{ alert: FailoverClusterEjected, expr: "increase(failover_cluster_ejections_total[5m]) > 0", fro: 1m }]
`);
    expect(errors(report)).toEqual([
      "Gateway default/apis-gw: spec.servers[0].port.protocol: required",
      'Gateway default/apis-gw: spec.servers[0].port.protocl: unknown field "protocl" (did you mean protocol?)',
      'Gateway base/eg: spec.listeners[0].allowedRoute: unknown field "allowedRoute" (did you mean allowedRoutes?)',
      'AuthorizationPolicy sample/deny-routing-header: spec.action: "REJECT" is not one of: ALLOW, DENY, AUDIT, CUSTOM',
      'AuthorizationPolicy sample/deny-routing-header: spec.rules[0].when[0].value: unknown field "value" (did you mean values?)',
      'ClientTrafficPolicy base/strip: spec.headers.earlyRequestHeader: unknown field "earlyRequestHeader" (did you mean earlyRequestHeaders?)',
      "BackendTrafficPolicy base/retry: spec.retry.numRetries: expected an integer, got a string",
      'SecurityPolicy base/authz: spec.authorization.rule: unknown field "rule" (did you mean rules?)',
      'EnvoyProxy envoy-gateway-system/proxy: spec.bootstrap.vaule: unknown field "vaule" (did you mean value?)',
      'PrometheusRule monitoring/failover: spec.groups[0].rules[0].fro: unknown field "fro" (did you mean for?)',
    ]);
  });

  it("names an unknown kind, with the kind meant, and learns new kinds from --crds DIR", async () => {
    const widget = `apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\nspec: { size: 3, colour: red }\n`;
    expect(errors(await validateYaml(widget))).toEqual(["Widget (no namespace)/w: kind: Widget is not a kind this validator knows; give its CustomResourceDefinition with --crds DIR".replace(" (no namespace)/", " ")]);
    expect(errors(await validateYaml("apiVersion: v1\nkind: Configmap\nmetadata: { name: c }\n"))).toEqual([
      "Configmap c: kind: Configmap is not a kind this validator knows (did you mean ConfigMap?); give its CustomResourceDefinition with --crds DIR",
    ]);
    const dir = mkdtempSync(join(tmpdir(), "failover-crds-"));
    writeFileSync(join(dir, "widgets.yaml"), `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.example.com }
spec:
  group: example.com
  names: { kind: Widget, plural: widgets }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: { type: integer, minimum: 1 }
                color: { type: string, enum: [red, green] }
`);
    const known = KnownKinds.builtIn();
    expect(known.addCrds(dir)).toEqual([]);
    expect(errors(await validateYaml(widget, known))).toEqual(['Widget w: spec.colour: unknown field "colour" (did you mean color?)']);
    expect(errors(await validateYaml(widget.replace("size: 3, colour: red", "color: blue"), known))).toEqual([
      "Widget w: spec.size: required",
      'Widget w: spec.color: "blue" is not one of: red, green',
    ]);
    expect(known.addCrds(join(dir, "nothing-here"))).toEqual([expect.stringMatching(/nothing-here: ENOENT$/)]);
    // A broken CRD is named with ajv's reasons, and its kind stays unknown: nothing crashes.
    const broken = mkdtempSync(join(tmpdir(), "failover-crds-"));
    writeFileSync(join(broken, "w.json"), JSON.stringify({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", spec: { group: "example.com", names: { kind: "Gadget" }, versions: [{ name: "v1", served: true, schema: { openAPIV3Schema: { type: "object", properties: { spec: { type: "strng", required: "a" } } } } }] } }));
    const again = KnownKinds.builtIn();
    expect(again.addCrds(broken)).toEqual([expect.stringMatching(/w\.json: Gadget example\.com\/v1: schema is invalid: .*required must be array/)]);
    expect(again.versions("Gadget")).toEqual([]);
  });

  it("runs promtool on a PrometheusRule's groups: an expression that does not parse, a template that does not close", async () => {
    const ok = await validateChanged("monitoring/prometheus-rule.yaml", () => {});
    expect(ok.findings).toEqual([]);
    const report = await validateChanged("monitoring/prometheus-rule.yaml", ([rule]) => {
      const [first, second] = rule.spec.groups[0].rules;
      first.expr = first.expr.replace("[5m])", "[5m]");
      second.annotations.summary = "{{ $labels.failover_cluster ";
    });
    expect(errors(report)).toEqual([
      expect.stringMatching(/^PrometheusRule failover\/envoy-failover: spec\.groups\[0\]\.rules\[0\]\.expr: promtool: could not parse expression: .*unclosed left parenthesis$/),
      expect.stringMatching(/^PrometheusRule failover\/envoy-failover: spec\.groups\[0\]\.rules\[1\]\.annotations\.summary: promtool: annotation "summary": template: .*unclosed action$/),
    ]);
  });
});
