// A client must never pick the upstream, nor set a header the failover filter owns, even when no
// filter runs (the Wasm VM failed open, the sidecar is down). For every shipped form this runs
// the committed config through a model of the order the proxy applies things (client-headers.ts:
// early header mutation / ClientTrafficPolicy / AuthorizationPolicy, then no filter, then the
// router's route match) with a client that sends every owned header, the routing header naming
// each cluster the config has. The owned headers come from the built module (owned-headers.ts).
// Sources: Envoy http_connection_manager.proto early_header_mutation_extensions ("before any
// routing ... or any filter processing"); Istio pilot/pkg/networking/core/listener_builder.go@86c9f01f
// (RBAC before a STATS WasmPlugin), pilot/pkg/security/authz/matcher/header.go@86c9f01f ("*" is a
// presence match); Envoy Gateway internal/xds/translator/listener.go@d32f2829 buildEarlyHeaderMutation.
import { beforeAll, describe, expect, it } from "vitest";
import { type ClientRequest, type NoFilterOutcome, bootstrapWithoutFilters, gatewayWithoutFilters, istioWithoutFilters } from "../extproc/envoy-config/validate/client-headers.js";
import { ownedHeaders } from "../extproc/envoy-config/generate/index.js";
import { type Doc, errors, hcm, load, validateChanged, warnings } from "./support/envoy-config.js";

let owned: string[];
beforeAll(async () => {
  owned = await ownedHeaders();
});

const ROUTING = "x-failover-upstream";

/** A client that sets every owned header, the routing header to `choice`. */
function hostile(choice: string, authority: string, path: string): ClientRequest {
  const headers: Record<string, string> = {};
  for (const h of owned) headers[h] = h.startsWith("x-envoy-") ? (h.endsWith("-ms") ? "1" : h.endsWith("retries") ? "100" : "5xx,reset") : "client";
  headers[ROUTING.toUpperCase()] = choice; // any case
  return { authority, path, headers };
}

function expectNoOwned(out: NoFilterOutcome): void {
  expect(Object.keys(out.headers).filter((h) => owned.includes(h))).toEqual([]);
}

/** Every cluster name a bootstrap defines (a client would try them all). */
function clusterNames(b: Doc): string[] {
  return b.static_resources.clusters.map((c: Doc) => c.name);
}

describe("the owned headers", () => {
  it("are the module's: the routing header, its x-failover-* explanation and the x-envoy-* retry and timeout headers", () => {
    expect(owned).toEqual(expect.arrayContaining([
      ROUTING, "x-failover-cluster", "x-failover-decision", "x-failover-priority", "x-failover-reason", "x-failover-score",
      "x-envoy-max-retries", "x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-retriable-status-codes",
    ]));
    expect(owned.every((h) => h === ROUTING || h.startsWith("x-failover-") || h.startsWith("x-envoy-"))).toBe(true);
  });
});

describe("Envoy bootstraps (wasm, ext_proc, hybrid) with no filter running", () => {
  const roles = [
    { role: "edge", authority: "bookinfo.example.com", path: "/productpage" },
    { role: "ingress", authority: "api.example.com", path: "/user/1" },
    { role: "waypoint", authority: "helloworld.sample:5000", path: "/hello" },
  ];
  for (const { role, authority, path } of roles) {
    for (const form of ["wasm", "extproc", "hybrid"]) {
      it(`${role}-${form}: a client's routing header chooses nothing and no owned header reaches the router`, () => {
        const [b] = load(`envoy/${role}-${form}.yaml`);
        const baseline = bootstrapWithoutFilters(b, { authority, path, headers: {} });
        expect(baseline.route).toMatch(/-fail-open$/);
        for (const choice of [...clusterNames(b), "failover-sidecar", "evil"]) {
          const out = bootstrapWithoutFilters(b, hostile(choice, authority, path));
          expect(out.route, choice).toBe(baseline.route);
          expect(out.upstream, choice).toBe(baseline.upstream);
          expectNoOwned(out);
        }
      });
    }
  }

  it("the model catches the old mutation (routing header only): the client's retry headers reach the router", () => {
    const [b] = load("envoy/edge-wasm.yaml");
    hcm(b).early_header_mutation_extensions[0].typed_config.mutations = [{ remove: ROUTING }];
    const out = bootstrapWithoutFilters(b, hostile("cluster-2", "bookinfo.example.com", "/"));
    expect(out.upstream).toBe("cluster-1-first");
    expect(out.headers["x-envoy-max-retries"]).toBe("100");
    expect(out.headers["x-failover-decision"]).toBe("client");
  });

  it("the model catches a config without the mutation: the client picks the cluster", () => {
    const [b] = load("envoy/edge-extproc.yaml");
    delete hcm(b).early_header_mutation_extensions;
    expect(bootstrapWithoutFilters(b, hostile("cluster-2", "bookinfo.example.com", "/")).upstream).toBe("cluster-2");
  });
});

describe("Istio with no filter running", () => {
  it("ingress gateway (in-proxy and sidecar forms): the EnvoyFilter strips every owned header, Istio's own failover serves", () => {
    const docs = load("envoy/istio/ingress-gateway.yaml");
    // The sidecar form applies ingress-gateway.yaml without its WasmPlugin, plus the ext_proc EnvoyFilter.
    const sidecarForm = [...docs.filter((d) => d.kind !== "WasmPlugin"), ...load("envoy/istio/ingress-gateway-extproc.yaml")];
    for (const resources of [docs, sidecarForm]) {
      const baseline = istioWithoutFilters(resources, "gateway", { authority: "api.example.com", path: "/user/1", headers: {} });
      expect(baseline.route).toBe("user-fail-open");
      for (const choice of ["user-zone1", "user-zone2", "evil"]) {
        const out = istioWithoutFilters(resources, "gateway", hostile(choice, "api.example.com", "/user/1"));
        expect(out.denied).toBeUndefined();
        expect(out.upstream, choice).toBe(baseline.upstream);
        expectNoOwned(out);
      }
    }
  });

  it("ingress gateway without the EnvoyFilter: the client picks the subset (what the guard prevents)", () => {
    const docs = load("envoy/istio/ingress-gateway.yaml").filter((d) => d.kind !== "EnvoyFilter");
    expect(istioWithoutFilters(docs, "gateway", hostile("user-zone2", "api.example.com", "/user/1")).upstream).toBe("user.base.svc.cluster.local#zone2");
  });

  it("waypoint: the AuthorizationPolicy refuses a request that carries any owned header, before the plugin", () => {
    const docs = load("envoy/istio/waypoint.yaml");
    const baseline = istioWithoutFilters(docs, "waypoint", { authority: "helloworld.sample:5000", path: "/hello", headers: {} });
    expect(baseline.denied).toBeUndefined();
    expect(baseline.route).toBe("helloworld-fail-open");
    for (const choice of ["helloworld-cluster1", "helloworld-cluster2", "evil"]) {
      expect(istioWithoutFilters(docs, "waypoint", hostile(choice, "helloworld.sample:5000", "/hello")).denied, choice).toMatch(/^failover-deny-owned-headers: /);
    }
    // Each owned header alone is refused too.
    for (const h of owned) {
      expect(istioWithoutFilters(docs, "waypoint", { authority: "helloworld.sample", path: "/", headers: { [h]: "1" } }).denied, h).toBeDefined();
    }
    // Without the policy the client's routing header picks the subset.
    const open = docs.filter((d) => d.kind !== "AuthorizationPolicy");
    expect(istioWithoutFilters(open, "waypoint", hostile("helloworld-cluster2", "helloworld.sample", "/")).upstream).toBe("helloworld.sample.svc.cluster.local#cluster2");
  });
});

describe("Envoy Gateway with no filter running", () => {
  for (const form of ["wasm", "extproc"]) {
    it(`${form}: the ClientTrafficPolicy strips every owned header, the route's last rule serves`, () => {
      const resources = [...load("envoy/gateway/route.yaml"), ...load(`envoy/gateway/${form}.yaml`)];
      const baseline = gatewayWithoutFilters(resources, { authority: "api.example.com", path: "/user/1", headers: {} });
      expect(baseline.upstream).toBe("user");
      for (const choice of ["user-zone1", "user-zone2", "evil"]) {
        const out = gatewayWithoutFilters(resources, hostile(choice, "api.example.com", "/user/1"));
        expect(out.upstream, choice).toBe("user");
        expectNoOwned(out);
      }
    });
  }

  it("without the ClientTrafficPolicy the client picks the zone's Service (what the guard prevents)", () => {
    const resources = load("envoy/gateway/route.yaml").filter((d) => d.kind !== "ClientTrafficPolicy");
    expect(gatewayWithoutFilters(resources, hostile("user-zone2", "api.example.com", "/user/1")).upstream).toBe("user-zone2");
  });
});

describe("validate-envoy warns about an Istio WasmPlugin whose proxy lets a client's owned headers through", () => {
  it("a waypoint without the DENY AuthorizationPolicy", async () => {
    const report = await validateChanged("envoy/istio/waypoint.yaml", (docs) => {
      docs.splice(docs.findIndex((d) => d.kind === "AuthorizationPolicy"), 1);
    });
    expect(errors(report)).toEqual([]);
    expect(warnings(report)).toEqual([
      `WasmPlugin sample/failover: spec: when the plugin is skipped (a failed VM), a client's ${owned.join(", ")} reach the router and its routing header picks the subset: add a DENY AuthorizationPolicy on the waypoint with a request.headers[NAME] presence rule per header (envoy/istio/waypoint.yaml)`,
    ]);
  });

  it("a waypoint whose policy misses one header", async () => {
    const report = await validateChanged("envoy/istio/waypoint.yaml", (docs) => {
      const ap = docs.find((d) => d.kind === "AuthorizationPolicy")!;
      ap.spec.rules = ap.spec.rules.filter((r: Doc) => r.when[0].key !== "request.headers[x-envoy-retry-on]");
    });
    expect(warnings(report)).toEqual([expect.stringMatching(/^WasmPlugin sample\/failover: spec: when the plugin is skipped \(a failed VM\), a client's x-envoy-retry-on reaches the router: add a DENY/)]);
  });

  it("an ingress gateway without the stripping EnvoyFilter", async () => {
    const report = await validateChanged("envoy/istio/ingress-gateway.yaml", (docs) => {
      docs.splice(docs.findIndex((d) => d.kind === "EnvoyFilter"), 1);
    });
    expect(warnings(report)).toEqual([expect.stringMatching(/^WasmPlugin istio-system\/failover: spec: when the plugin is skipped \(a failed VM\), a client's .*x-failover-upstream reach the router and its routing header picks the subset: add an EnvoyFilter/)]);
  });
});
