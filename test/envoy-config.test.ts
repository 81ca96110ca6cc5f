// The Envoy configs under envoy/: they are what the topology generates, every one validates, and
// the validator rejects the mistakes that would break the product in a real Envoy, each at the
// path of the member at fault.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { envoyFiles, staleEnvoyFiles } from "../extproc/envoy-config/generate/index.js";
import { validateFile } from "../extproc/envoy-config/validate/index.js";
import { HCM_PATH, envoyDirFiles, errors, hcm, load, validateChanged, warnings } from "./support/envoy-config.js";
import { root } from "./support/wasm.js";

describe("the files under envoy/", () => {
  it("are exactly what topology.ts generates, and nothing else", async () => {
    expect(await staleEnvoyFiles()).toEqual([]);
    expect(envoyDirFiles()).toEqual((await envoyFiles()).map((f) => f.path).sort());
  });

  it("hold the nine bootstraps, three policies and the Istio, Envoy Gateway and Kubernetes resources", () => {
    const files = envoyDirFiles();
    for (const role of ["edge", "ingress", "waypoint"]) {
      for (const form of ["wasm", "extproc", "hybrid"]) expect(files).toContain(`envoy/${role}-${form}.yaml`);
      expect(files).toContain(`envoy/policies/${role}.yaml`);
    }
    expect(files.filter((f) => /^envoy\/(istio|gateway|kubernetes)\//.test(f))).toHaveLength(9);
  });

  it("every one validates, without an error or a warning", async () => {
    const kinds = new Map<string, string | undefined>();
    for (const file of envoyDirFiles()) {
      const report = await validateFile(`${root}/${file}`);
      expect(report.findings, file).toEqual([]);
      kinds.set(file, report.kind);
    }
    expect(kinds.get("envoy/edge-hybrid.yaml")).toBe("Envoy bootstrap");
    expect(kinds.get("envoy/policies/waypoint.yaml")).toBe("failover policy");
    expect(kinds.get("envoy/istio/waypoint.yaml")).toBe("Kubernetes resources");
  });

  it("say that the waypoint bootstraps model the role over plain HTTP and point real waypoints to the Istio WasmPlugin", () => {
    for (const form of ["wasm", "extproc", "hybrid"]) {
      const text = readFileSync(join(root, `envoy/waypoint-${form}.yaml`), "utf8");
      expect(text, form).toMatch(/models the waypoint's role over plain HTTP; a real ambient waypoint speaks HBONE/);
      expect(text, form).toContain("use envoy/istio/waypoint.yaml (WasmPlugin)");
    }
  });

  it("the module judges every embedded policy: both of a hybrid bootstrap", async () => {
    expect((await validateFile(`${root}/envoy/ingress-hybrid.yaml`)).policies).toBe(2);
    expect((await validateFile(`${root}/envoy/ingress-wasm.yaml`)).policies).toBe(1);
  });
});

describe("a bootstrap is rejected", () => {
  it("for a misspelled field, at its full path", async () => {
    const report = await validateChanged("envoy/edge-hybrid.yaml", ([b]) => {
      hcm(b).http_filters[2].typed_config.confg = true;
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.http_filters[2].typed_config.confg: unknown field "confg" in envoy.extensions.filters.http.router.v3.Router`,
    ]);
  });

  it("for a misspelled field with a suggestion, in either naming", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      b.static_resources.clusters[0].conectTimeout = "2s";
    });
    expect(errors(report)).toEqual([
      'static_resources.clusters[0].conectTimeout: unknown field "conectTimeout" in envoy.config.cluster.v3.Cluster (did you mean connect_timeout?)',
    ]);
  });

  it("for a missing cluster, wherever it is named", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      b.static_resources.clusters = b.static_resources.clusters.filter((c: { name: string }) => c.name !== "cluster-2");
    });
    expect(errors(report)).toEqual([
      'static_resources.clusters[1].cluster_type.typed_config.clusters[1]: the aggregate names cluster "cluster-2", which is not defined in static_resources.clusters',
      'static_resources.clusters[2].cluster_type.typed_config.clusters[0]: the aggregate names cluster "cluster-2", which is not defined in static_resources.clusters',
      `${HCM_PATH}.http_filters[0].typed_config.config.configuration.value: the policy (clusters[1]) names cluster "cluster-2", which is not defined in static_resources.clusters`,
    ]);
  });

  it("for a route to a missing cluster", async () => {
    const report = await validateChanged("envoy/ingress-wasm.yaml", ([b]) => {
      hcm(b).route_config.virtual_hosts[0].routes[1].route.cluster = "user-zone9-first";
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.route_config.virtual_hosts[0].routes[1].route.cluster: the route names cluster "user-zone9-first", which is not defined in static_resources.clusters`,
    ]);
  });

  it("when it has no router", async () => {
    const report = await validateChanged("envoy/edge-extproc.yaml", ([b]) => {
      hcm(b).http_filters.pop();
    });
    expect(errors(report)).toEqual([`${HCM_PATH}.http_filters: no envoy.filters.http.router: nothing would be forwarded`]);
  });

  it("for a filter after the router", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      hcm(b).http_filters.reverse();
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.http_filters[0]: the router must be the last HTTP filter: Envoy rejects filters after it`,
      `${HCM_PATH}.http_filters[1]: the failover filter must stand before envoy.filters.http.router (it is at 1, the router at 0)`,
    ]);
  });

  it("for ext_proc before the Wasm filter in the hybrid form", async () => {
    const report = await validateChanged("envoy/waypoint-hybrid.yaml", ([b]) => {
      const f = hcm(b).http_filters;
      [f[0], f[1]] = [f[1], f[0]];
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.http_filters[0]: in the hybrid form the Wasm filter decides first and the sidecar may override it: put ext_proc after the Wasm filter`,
    ]);
  });

  it("for a typed_config whose @type names no type", async () => {
    const report = await validateChanged("envoy/edge-extproc.yaml", ([b]) => {
      hcm(b).http_filters[1].typed_config["@type"] = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr";
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.http_filters[1].typed_config.@type: no type named envoy.extensions.filters.http.router.v3.Routr in Envoy's v3 API (misspelled, a v2 type, or an extension this Envoy API does not define)`,
    ]);
  });

  it("for a cluster_header other than the policy's routing header", async () => {
    const report = await validateChanged("envoy/waypoint-wasm.yaml", ([b]) => {
      hcm(b).route_config.virtual_hosts[0].routes[0].route.cluster_header = "x-upstream";
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].route.cluster_header: is "x-upstream" but the policy at ${HCM_PATH}.http_filters[0].typed_config.config.configuration.value writes its choice into "x-failover-upstream" (its default routingHeader)`,
    ]);
  });

  it("for a sidecar policy whose routing header the route does not read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-"));
    const policy = { ...load("envoy/policies/edge.yaml")[0], routingHeader: "x-route-to" };
    writeFileSync(join(dir, "policy.yaml"), stringify(policy));
    const report = await validateChanged("envoy/edge-extproc.yaml", ([b]) => {
      b.node.metadata.FAILOVER_POLICY_FILE = join(dir, "policy.yaml");
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].route.cluster_header: is "x-failover-upstream" but the policy at node.metadata.FAILOVER_POLICY_FILE writes its choice into "x-route-to"`,
      // The early header mutation removes x-failover-upstream, not the policy's routing header.
      `${HCM_PATH}.early_header_mutation_extensions: a client's x-route-to reaches the router when no failover filter runs (a failed Wasm VM, a down sidecar): remove it in an early header mutation (envoy.http.early_header_mutation.header_mutation)`,
    ]);
  });

  it("when the sidecar's policy file named in node metadata is missing", async () => {
    const report = await validateChanged("envoy/edge-extproc.yaml", ([b]) => {
      b.node.metadata.FAILOVER_POLICY_FILE = "policies/missing.yaml";
    });
    expect(errors(report)).toEqual([expect.stringMatching(/^node\.metadata\.FAILOVER_POLICY_FILE: cannot load the sidecar's policy .*policies\/missing\.yaml: ENOENT$/)]);
  });

  it("when no route reads the routing header", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      hcm(b).route_config.virtual_hosts[0].routes.shift();
    });
    expect(errors(report)).toEqual([`${HCM_PATH}.route_config: no route reads the routing header (cluster_header): the failover filter's choice would be ignored`]);
  });

  it("when retries cross clusters but the route lacks previous_priorities", async () => {
    const report = await validateChanged("envoy/ingress-wasm.yaml", ([b]) => {
      delete hcm(b).route_config.virtual_hosts[0].routes[0].route.retry_policy.retry_priority;
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].route.retry_policy: the policy at ${HCM_PATH}.http_filters[0].typed_config.config.configuration.value retries into the next cluster (acrossClusters): the route needs retry_priority envoy.retry_priorities.previous_priorities`,
    ]);
  });

  it("when an aggregate's children are not in the policy's order", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      b.static_resources.clusters[2].cluster_type.typed_config.clusters.reverse();
    });
    expect(errors(report)).toEqual([
      "static_resources.clusters[2]: the policy (aggregates[0]) expects an aggregate cluster over [cluster-1, cluster-2] in that order (it attributes retry n to child n); this cluster is over [cluster-2, cluster-1]",
    ]);
  });

  it("when the Wasm filter does not run the built module", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      hcm(b).http_filters[0].typed_config.config.vm_config.code.local.filename = "/etc/envoy/filter.wasm";
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.http_filters[0].typed_config.config.vm_config.code.local.filename: points at "/etc/envoy/filter.wasm", not the failover module (build/failover.wasm)`,
    ]);
  });

  it("when the module rejects the embedded policy, in the module's words", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      const config = hcm(b).http_filters[0].typed_config.config.configuration;
      const policy = JSON.parse(config.value);
      policy.routes[0].destination = { mode: "named", clusters: ["cluster-9"] };
      config.value = JSON.stringify(policy);
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.http_filters[0].typed_config.config.configuration.value: the failover module rejects the policy: failover: policy: routes[0].destination.clusters[0]: unknown cluster "cluster-9"`,
    ]);
  });

  it("when the policy is not JSON", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      hcm(b).http_filters[0].typed_config.config.configuration.value = "routingHeader: x";
    });
    expect(errors(report)).toEqual([expect.stringMatching(/^.*configuration\.value: the policy is not JSON: /)]);
  });

  it("when the sidecar cluster does not speak HTTP/2", async () => {
    const report = await validateChanged("envoy/ingress-extproc.yaml", ([b]) => {
      delete b.static_resources.clusters.find((c: { name: string }) => c.name === "failover-sidecar").typed_extension_protocol_options;
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.http_filters[0].typed_config.grpc_service.envoy_grpc.cluster_name: cluster "failover-sidecar" does not speak HTTP/2, which gRPC needs: set typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options`,
    ]);
  });

  it("when ext_proc is not set up the way the sidecar needs", async () => {
    const report = await validateChanged("envoy/ingress-extproc.yaml", ([b]) => {
      const cfg = hcm(b).http_filters[0].typed_config;
      cfg.failure_mode_allow = false;
      cfg.processing_mode.request_body_mode = "BUFFERED";
      delete cfg.mutation_rules;
      cfg.response_attributes = ["response.code", "response.flag"];
    });
    const at = `${HCM_PATH}.http_filters[0].typed_config`;
    expect(errors(report)).toEqual([
      `${at}.failure_mode_allow: must be true: a down or slow sidecar must not fail requests (the route then serves Envoy's own choice)`,
      `${at}.processing_mode.request_body_mode: is BUFFERED: the sidecar never reads bodies (NONE)`,
      `${at}.mutation_rules.allow_envoy: must be true: the filter sets x-envoy-retry-on and x-envoy-max-retries, and ext_proc drops changes to x-envoy-* headers otherwise`,
      `${at}.response_attributes[1]: "response.flag": not an attribute Envoy provides (see Envoy's attribute documentation)`,
      `${at}.response_attributes: must include response.flags, upstream.request_attempt_count: the sidecar learns each outcome from them`,
    ]);
  });

  it("when the admin interface listens beyond loopback", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      b.admin.address.socket_address.address = "0.0.0.0";
    });
    expect(errors(report)).toEqual(["admin.address.socket_address.address: the admin interface is bound to 0.0.0.0: bind it to 127.0.0.1 (it can change and stop the proxy)"]);
  });

  it("warns when the Wasm filter would fail closed", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      delete hcm(b).http_filters[0].typed_config.config.failure_policy;
    });
    expect(errors(report)).toEqual([]);
    expect(warnings(report)).toEqual([`${HCM_PATH}.http_filters[0].typed_config.config.fail_open: not true: if the Wasm VM fails, every request gets a 503 instead of Envoy's own routing`]);
    const closed = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      hcm(b).http_filters[0].typed_config.config.failure_policy = "FAIL_CLOSED";
    });
    expect(warnings(closed)).toEqual([`${HCM_PATH}.http_filters[0].typed_config.config.failure_policy: is FAIL_CLOSED: if the Wasm VM fails, every request gets a 503 instead of Envoy's own routing`]);
  });
});
