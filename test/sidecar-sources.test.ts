// health.outlierDetection.minSources behind the sidecar, over real gRPC on loopback: a source is
// Envoy's source.address attribute, else its xds.node.id, else the gRPC peer's address (one
// Envoy, whatever its connections). One source alone cannot eject a cluster for every Envoy.
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
