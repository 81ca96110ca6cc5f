// Endpoint health behind the sidecar (issue 15), over real gRPC on loopback: Envoy's ext_proc
// sends `upstream.address` among the response_attributes (a CEL attribute; Envoy sources in
// test/data/ENVOY-HOST-NOTES.md, "Endpoint health in the filter"), the module keeps its endpoint
// table in the sidecar's shared data for every Envoy it serves, and /debug/clusters says where
// each cluster's health comes from.
import { describe, expect, it } from "vitest";
import type { Sidecar } from "../extproc/sidecar/server.js";
import { type Headers, attrs, num, str } from "./support/extproc-client.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { fetchStatus, formatStatus } from "../extproc/tools/status.js";

const policy = {
  clusters: [
    { name: "zone-1", region: "region-1", zone: "a", hosts: ["svc.example.com"], endpoints: 4 },
    { name: "zone-2", region: "region-1", zone: "b", hosts: ["svc.example.com"], endpoints: 4 },
  ],
  routes: [{ name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "named", clusters: ["zone-1", "zone-2"] } }],
  health: { outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 3, maxEjectionPercent: 100 } },
};
const request: Headers = [[":method", "GET"], [":path", "/"], [":authority", "svc.example.com"], [":scheme", "http"]];
const answered = (code: number, address?: string) => attrs({
  "response.code": num(code), "response.flags": num(0), "upstream.request_attempt_count": num(1),
  ...(address !== undefined ? { "upstream.address": str(address) } : {}),
});
const start = sidecarHarness({ policy: JSON.stringify(policy), adminPort: 0, clock: () => 1_800_000_000_000n * 1_000_000n, locality: { region: "region-1", zone: "a" } });
async function zone1(s: Sidecar) {
  s.pool.tick();
  const res = await fetch(`http://127.0.0.1:${s.adminPort}/debug/clusters`);
  const debug = (await res.json()) as { localities: { plan: { clusters: Record<string, unknown>[] } }[] };
  return debug.localities[0].plan.clusters.find((c) => c.name === "zone-1")!;
}

describe("endpoints behind the sidecar", () => {
  it("upstream.address in response_attributes: two Envoys' 503s at one endpoint eject it, not the zone; /debug/clusters says so", async () => {
    const { sidecar, client } = await start();
    const a = client();
    const b = client();
    await a.exchange(request, [[":status", "200"]], { responseAttributes: answered(200, "10.0.0.2:8080") });
    expect(await zone1(sidecar)).toMatchObject({ healthFrom: "endpoints", endpoints: 4, ejectedEndpoints: 0 });
    await a.exchange(request, [[":status", "503"]], { responseAttributes: answered(503, "10.0.0.1:8080") });
    await b.exchange(request, [[":status", "503"]], { responseAttributes: answered(503, "10.0.0.1:8080") });
    await a.exchange(request, [[":status", "200"]], { responseAttributes: answered(200, "10.0.0.3:8080") });
    await b.exchange(request, [[":status", "503"]], { responseAttributes: answered(503, "10.0.0.1:8080") });
    expect(await zone1(sidecar)).toMatchObject({ healthFrom: "endpoints", endpoints: 4, ejectedEndpoints: 1, ejected: false });
    // `failover status` prints it with the cluster's row.
    const admin = `http://127.0.0.1:${sidecar.adminPort}`;
    expect(formatStatus(admin, await fetchStatus(admin))).toMatch(/zone-1 .*endpoints 3\/4 healthy/);
  });

  it("a peer that sends no upstream.address: the success rate, as before, and the plan says so; a request header of that name is no attribute", async () => {
    const { sidecar, client } = await start();
    const c = client();
    const spoof: Headers = [...request, ["upstream.address", "10.0.0.9:8080"]];
    await c.exchange(spoof, [[":status", "200"]], { responseAttributes: answered(200) });
    expect(await zone1(sidecar)).toMatchObject({ healthFrom: "success-rate" });
    for (let i = 0; i < 3; i++) await c.exchange(spoof, [[":status", "503"]], { responseAttributes: answered(503) });
    // The zone's own run of gateway errors ejects it: no endpoint was named.
    expect(await zone1(sidecar)).toMatchObject({ healthFrom: "success-rate", ejected: true });
  });
});
