// Outcomes behind the sidecar, over real gRPC on loopback. health.outlierDetection.minSources: a
// source is Envoy's source.address attribute, else its xds.node.id, else the gRPC peer's address
// (one Envoy, whatever its connections); one source alone cannot eject a cluster for every Envoy.
// Client-caused local replies (response.code_details) and a missing attempt count (Envoy < 1.33
// sends no upstream.request_attempt_count) arrive as attributes the same way.
import { describe, expect, it } from "vitest";
import { type Headers, attrs, num, str, struct } from "./support/extproc-client.js";
import { sidecarHarness } from "./support/sidecar-harness.js";

const policy = {
  clusters: [
    { name: "cluster-1", region: "region-1", zone: "a", hosts: ["svc.example.com"] },
    { name: "cluster-2", region: "region-2", zone: "b", hosts: ["svc.example.com"] },
  ],
  routes: [{ name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "auto" } }],
  health: { outlierDetection: { consecutive5xx: 1, minSources: 2 } },
};
const request: Headers = [[":method", "GET"], [":path", "/"], [":authority", "svc.example.com"], [":scheme", "http"]];
const failed = attrs({ "response.code": num(503), "response.flags": num(0) });
const start = sidecarHarness({ policy: JSON.stringify(policy), clock: () => 1_800_000_000_000n * 1_000_000n, locality: { region: "region-1", zone: "a" } });
const ejected = (s: Awaited<ReturnType<typeof start>>["sidecar"]) => {
  s.pool.tick();
  const plan = s.pool.plans()[0].plan as { clusters: { name: string; ejected: boolean; failures: number }[] };
  return plan.clusters.find((c) => c.name === "cluster-1")!;
};

describe("minSources in the sidecar", () => {
  it("five 503s from one client (source.address) do not eject; a second client's does", async () => {
    const { sidecar, client } = await start();
    const envoy = client();
    for (let port = 50000; port < 50005; port++) {
      await envoy.exchange(request, [[":status", "503"]], { requestAttributes: attrs({ "source.address": str(`10.1.2.3:${port}`) }), responseAttributes: failed });
    }
    expect(ejected(sidecar)).toMatchObject({ ejected: false, failures: 0 });
    await envoy.exchange(request, [[":status", "503"]], { requestAttributes: attrs({ "source.address": str("10.1.2.4:50000") }), responseAttributes: failed });
    expect(ejected(sidecar)).toMatchObject({ ejected: true, failures: 6 });
  });

  it("without source.address each Envoy node is a source", async () => {
    const { sidecar, client } = await start();
    const node = (id: string) => attrs({ "xds.node": { kind: "structValue", structValue: struct({ id: str(id) }) } });
    await client().exchange(request, [[":status", "503"]], { requestAttributes: node("envoy-a"), responseAttributes: failed });
    await client().exchange(request, [[":status", "503"]], { requestAttributes: node("envoy-a"), responseAttributes: failed });
    expect(ejected(sidecar).ejected).toBe(false);
    await client().exchange(request, [[":status", "503"]], { requestAttributes: node("envoy-b"), responseAttributes: failed });
    expect(ejected(sidecar).ejected).toBe(true);
  });

  it("an Envoy that sends neither is one source, named by its gRPC peer, over all its connections", async () => {
    const { sidecar, client } = await start();
    // Three connections from 127.0.0.1 (three ports): one peer, one source.
    for (let i = 0; i < 3; i++) await client().exchange(request, [[":status", "503"]], { responseAttributes: failed });
    expect(ejected(sidecar)).toMatchObject({ ejected: false, failures: 0 });
  });
});

describe("what Envoy's response attributes say, in the sidecar", () => {
  const plain = JSON.stringify({ ...policy, health: { outlierDetection: { consecutive5xx: 1 } } });

  it("a local reply the client caused (response.code_details) does not count against the upstream", async () => {
    const { sidecar, client } = await start({ policy: plain });
    for (const details of ["downstream_remote_disconnect", "request_overall_timeout"]) {
      await client().exchange(request, [[":status", "503"]], { responseAttributes: attrs({ "response.code": num(503), "response.flags": num(0), "response.code_details": str(details) }) });
    }
    expect(ejected(sidecar)).toMatchObject({ ejected: false, failures: 0 });
    await client().exchange(request, [[":status", "503"]], { responseAttributes: attrs({ "response.code": num(503), "response.flags": num(0), "response.code_details": str("via_upstream") }) });
    expect(ejected(sidecar)).toMatchObject({ ejected: true, failures: 1 });
  });

  it("without upstream.request_attempt_count an aggregate's outcome is credited to no cluster", async () => {
    const across = JSON.stringify({
      ...policy,
      aggregates: [{ name: "one-then-two", clusters: ["cluster-1", "cluster-2"] }, { name: "two-then-one", clusters: ["cluster-2", "cluster-1"] }],
      routes: [{ ...policy.routes[0], retry: { acrossClusters: true } }],
      health: { outlierDetection: { consecutive5xx: 1 } },
    });
    const { sidecar, client } = await start({ policy: across });
    const r = await client().exchange(request, [[":status", "200"]], { responseAttributes: attrs({ "response.code": num(200), "xds.cluster_name": str("one-then-two") }) });
    expect(r.upstreamRequest!.find(([k]) => k === "x-failover-upstream")![1]).toBe("one-then-two");
    sidecar.pool.tick();
    const plan = sidecar.pool.plans()[0].plan as { clusters: { name: string; requests: number }[] };
    expect(plan.clusters.map((c) => c.requests)).toEqual([0, 0]);
    // With the count (Envoy 1.33+), the same exchange is credited to the child that served it.
    await client().exchange(request, [[":status", "200"]], { responseAttributes: attrs({ "response.code": num(200), "upstream.request_attempt_count": num(1) }) });
    sidecar.pool.tick();
    const after = sidecar.pool.plans()[0].plan as { clusters: { name: string; requests: number }[] };
    expect(after.clusters.map((c) => c.requests)).toEqual([1, 0]);
  });
});
