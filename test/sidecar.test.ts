// The ext_proc sidecar over real gRPC on loopback, driven the way Envoy drives it.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PluginVm } from "../extproc/host/index.js";
import type { Sidecar } from "../extproc/sidecar/server.js";
import { EnvoyLikeClient, type Headers, apply, attrs, headerProto, num, str, struct } from "./support/extproc-client.js";
import { ServeProcess } from "./support/serve-process.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { FAILOVER_WASM, PROBE_WASM, compiled } from "./support/wasm.js";

const policy = (extra: object = {}) => ({
  seed: 7,
  explainResponse: true,
  clusters: [
    { name: "cluster-1", region: "region-1", zone: "a", hosts: ["bookinfo.example.com"] },
    { name: "cluster-2", region: "region-2", zone: "b", hosts: ["bookinfo.example.com"] },
  ],
  routes: [{ name: "bookinfo", match: { authority: "bookinfo.example.com" }, destination: { mode: "auto" }, retry: { numRetries: 2 } }],
  health: { outlierDetection: { consecutive5xx: 3 } },
  ...extra,
});
const request: Headers = [[":method", "GET"], [":path", "/productpage"], [":authority", "bookinfo.example.com"], [":scheme", "http"]];
const ok: Headers = [[":status", "200"]];
const T = 1_800_000_000_000n * 1_000_000n;

const start = sidecarHarness({
  policy: JSON.stringify(policy()), adminPort: 0, clock: () => T, locality: { region: "region-1", zone: "a" },
});
const admin = async (s: Sidecar, path: string) => {
  const res = await fetch(`http://127.0.0.1:${s.adminPort}${path}`);
  return { status: res.status, text: await res.text() };
};
const get = (h: Headers | undefined, name: string) => h?.filter(([k]) => k === name).map(([, v]) => v);

describe("request and response headers", () => {
  it("sets the routing header (raw_value), strips a client's, and asks Envoy to re-pick the route", async () => {
    const { client } = await start();
    const { req, upstreamRequest } = await client().exchange([...request, ["x-failover-upstream", "cluster-2"]], ok);
    const r = req.request_headers.response;
    expect(r.clear_route_cache).toBe(true);
    for (const o of r.header_mutation.set_headers) {
      expect(o.header.value ?? "").toBe("");
      expect(o.header.raw_value.length).toBeGreaterThan(0);
    }
    expect(get(upstreamRequest, "x-failover-upstream")).toEqual(["cluster-1"]);
    expect(get(upstreamRequest, "x-failover-reason")).toEqual(["local"]);
    expect(get(upstreamRequest, "x-envoy-max-retries")).toEqual(["2"]);
  });

  it("explains the choice on the response", async () => {
    const { client } = await start();
    const { downstreamResponse } = await client().exchange(request, ok);
    expect(get(downstreamResponse, "x-failover-cluster")).toEqual(["cluster-1"]);
    expect(get(downstreamResponse, "x-failover-decision")?.[0]).toMatch(/^route=bookinfo cluster=cluster-1 priority=0 reason=local/);
  });

  it("answers a request no route matches without a routing header", async () => {
    const { client } = await start();
    const { upstreamRequest } = await client().exchange([[":authority", "nowhere.example.com"], [":path", "/"]], ok);
    expect(get(upstreamRequest, "x-failover-upstream")).toEqual([]);
    expect(get(upstreamRequest, "x-failover-reason")).toEqual(["no-route"]);
  });

  it("copes with an empty header set", async () => {
    const { client } = await start();
    const { req } = await client().exchange([], ok);
    expect(req.request_headers).toBeDefined();
  });
});

describe("health from Envoy's responses", () => {
  it("learns from response.code and response.flags attributes, shared by every connected Envoy", async () => {
    const { sidecar, client } = await start();
    const envoyA = client();
    const envoyB = client();
    for (let i = 0; i < 3; i++) {
      const c = i % 2 ? envoyA : envoyB;
      await c.exchange(request, [[":status", "503"]], { responseAttributes: attrs({ "response.code": num(503), "response.flags": num(0x20) }) });
    }
    const plan = sidecar.pool.plans()[0].plan as { clusters: { name: string; ejected: boolean }[] };
    expect(plan.clusters.find((c) => c.name === "cluster-1")?.ejected).toBe(true);
    const { upstreamRequest } = await envoyA.exchange(request, ok);
    expect(get(upstreamRequest, "x-failover-upstream")).toEqual(["cluster-2"]);
  });

  it("uses the :status header when Envoy sends no response.code attribute", async () => {
    const { sidecar, client } = await start();
    for (let i = 0; i < 3; i++) await client().exchange(request, [[":status", "500"]]);
    sidecar.pool.tick();
    const plan = sidecar.pool.plans()[0].plan as { clusters: { name: string; ejected: boolean }[] };
    expect(plan.clusters.find((c) => c.name === "cluster-1")?.ejected).toBe(true);
  });

  it("does not blame the cluster for a request the client abandoned", async () => {
    const { sidecar, client } = await start();
    for (let i = 0; i < 5; i++) {
      const s = client().open();
      await s.send({ request_headers: { headers: headerProto(request), end_of_stream: true } });
      s.cancel();
    }
    await new Promise((r) => setTimeout(r, 50));
    sidecar.pool.tick();
    const plan = sidecar.pool.plans()[0].plan as { clusters: { name: string; requests: number; ejected: boolean }[] };
    expect(plan.clusters.find((c) => c.name === "cluster-1")).toMatchObject({ requests: 0, ejected: false });
  });

  it("keeps one VM per proxy locality, from the xds.node attribute, with one health view", async () => {
    const { sidecar, client } = await start();
    const node = (region: string) => struct({ locality: { kind: "structValue", structValue: struct({ region: str(region), zone: str("x") }) } });
    const far = await client().exchange(request, ok, { requestAttributes: attrs({ "xds.node": { kind: "structValue", structValue: node("region-2") } }) });
    expect(get(far.upstreamRequest, "x-failover-upstream")).toEqual(["cluster-2"]);
    const near = await client().exchange(request, ok);
    expect(get(near.upstreamRequest, "x-failover-upstream")).toEqual(["cluster-1"]);
    expect(sidecar.pool.plans().map((p) => p.locality).sort()).toEqual(["region-1/a//", "region-2/x//"]);
  });

  it("feeds request attributes to the filter (source IP affinity)", async () => {
    const three = policy({
      clusters: ["a", "b", "c"].map((n) => ({ name: n, hosts: ["h"] })),
      routes: [{ name: "h", match: { authority: "h" }, destination: { mode: "weighted", weights: { a: 1, b: 1, c: 1 } }, affinity: { sourceIp: true } }],
    });
    const { client } = await start({ policy: JSON.stringify(three) });
    const c = client();
    const pick = async (addr: string) => get((await c.exchange([[":authority", "h"], [":path", "/"]], ok, { requestAttributes: attrs({ "source.address": str(addr) }) })).upstreamRequest, "x-failover-upstream")![0];
    const first = await pick("10.9.8.7:1000");
    for (let p = 1001; p < 1010; p++) expect(await pick(`10.9.8.7:${p}`)).toBe(first);
  });
});

describe("local replies, bodies and trailers (probe module)", () => {
  it("turns a local reply into an ImmediateResponse", async () => {
    const { client } = await start({ modulePath: PROBE_WASM, policy: "{}" });
    const { req } = await client().exchange([...request, ["x-probe", "reply:429=slow down"]], ok);
    const ir = req.immediate_response;
    expect(ir.status.code).toBe("TooManyRequests"); // envoy.type.v3.StatusCode 429, decoded by name
    expect(Buffer.from(ir.body).toString()).toBe("slow down");
    expect(ir.details).toBe("probe_reply");
    expect(apply([], ir.headers)).toContainEqual(["x-probe-reply", "yes"]);
  });

  it("answers body and trailer messages for whichever processing mode Envoy uses", async () => {
    const { client } = await start({ modulePath: PROBE_WASM, policy: "{}" });
    const s = client().open();
    const h = await s.send({ request_headers: { headers: headerProto(request), end_of_stream: false } });
    expect(h.request_headers).toBeDefined();
    const b1 = await s.send({ request_body: { body: Buffer.from("hello "), end_of_stream: false } });
    expect(b1.request_body).toBeDefined();
    const b2 = await s.send({ request_body: { body: Buffer.from("world"), end_of_stream: true } });
    expect(b2.request_body.response?.body_mutation).toBeUndefined();
    const t = await s.send({ request_trailers: { trailers: headerProto([["x-t", "1"]]) } });
    expect(t.request_trailers).toBeDefined();
    const rh = await s.send({ response_headers: { headers: headerProto(ok), end_of_stream: false } });
    expect(apply(ok, rh.response_headers.response.header_mutation)).toContainEqual(["x-probe-result", "body:hello world"]);
    const rb = await s.send({ response_body: { body: Buffer.from("x"), end_of_stream: true } });
    expect(rb.response_body).toBeDefined();
    await s.close();
    expect(s.error).toBeUndefined();
  });
});

describe("protocol errors", () => {
  it("refuses response headers before request headers, naming the problem", async () => {
    const { client } = await start();
    const s = client().open();
    const r = await s.send({ response_headers: { headers: headerProto(ok) } });
    expect(r.error?.code).toBe(3);
    expect(r.error?.details).toMatch(/response_headers before request_headers/);
  });

  it("refuses request headers twice and an empty message", async () => {
    const { client } = await start();
    const s = client().open();
    await s.send({ request_headers: { headers: headerProto(request) } });
    const r = await s.send({ request_headers: { headers: headerProto(request) } });
    expect(r.error?.details).toMatch(/request_headers sent twice/);
    const e = await client().open().send({});
    expect(e.error?.code).toBe(3);
    expect(e.error?.details).toMatch(/unknown ext_proc message/);
  });

  it("refuses an oversized header set with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const { client } = await start({ maxHeaderBytes: 1024 });
    const s = client().open();
    const r = await s.send({ request_headers: { headers: headerProto([...request, ["x-big", "x".repeat(2000)]]) } });
    expect(r.error?.code).toBe(8);
    expect(r.error?.details).toMatch(/exceeds the limit of 1024/);
    const { upstreamRequest } = await client().exchange(request, ok);
    expect(get(upstreamRequest, "x-failover-upstream")).toEqual(["cluster-1"]);
  });

  it("sheds streams beyond its limit with UNAVAILABLE", async () => {
    const { sidecar, client } = await start({ maxStreams: 3 });
    const c = client();
    const open = [c.open(), c.open(), c.open()];
    for (const s of open) await s.send({ request_headers: { headers: headerProto(request) } });
    const r = await c.open().send({ request_headers: { headers: headerProto(request) } });
    expect(r.error?.code).toBe(14);
    expect(r.error?.details).toMatch(/overloaded: 3 streams in flight \(limit 3\)/);
    for (const s of open) await s.close();
    expect((await c.exchange(request, ok)).upstreamRequest).toBeDefined();
    expect(await sidecar.metrics.shed.get()).toMatchObject({ values: [{ value: 1 }] });
  });
});

describe("many streams", () => {
  it("serves a thousand concurrent streams and counts each once", async () => {
    const { sidecar, client } = await start();
    const clients = Array.from({ length: 4 }, () => client());
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => clients[i % 4].exchange(request, ok)));
    expect(results.every((r) => get(r.upstreamRequest, "x-failover-upstream")?.length === 1)).toBe(true);
    sidecar.pool.tick();
    const plan = sidecar.pool.plans()[0].plan as { clusters: { name: string; requests: number }[] };
    expect(plan.clusters.reduce((n, c) => n + c.requests, 0)).toBe(1000);
    expect((await sidecar.metrics.active.get()).values[0].value).toBe(0);
  });
});

describe("policy reload", () => {
  it("reloads a changed policy file and refuses a broken one, the last good one serving", async () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-"));
    const file = join(dir, "policy.json");
    writeFileSync(file, JSON.stringify(policy()));
    const read = (f: string) => JSON.stringify(JSON.parse(readFileSync(f, "utf8")));
    const { sidecar, client, logger } = await start({ policyFile: file, readPolicy: read });
    const c = client();
    const named = policy({ routes: [{ name: "bookinfo", match: { authority: "bookinfo.example.com" }, destination: { mode: "named", clusters: ["cluster-2"] } }] });
    writeFileSync(file, JSON.stringify(named));
    expect(sidecar.reload()).toBe(true);
    expect(get((await c.exchange(request, ok)).upstreamRequest, "x-failover-upstream")).toEqual(["cluster-2"]);
    writeFileSync(file, JSON.stringify({ ...named, routes: [{ destination: { mode: "named", clusters: ["cluster-9"] } }] }));
    expect(sidecar.reload()).toBe(false);
    const rejected = logger.lines.find((l) => l.msg.startsWith("new policy rejected"));
    expect(rejected?.fields?.problems).toEqual(["failover: policy: routes[0].destination.clusters[0]: unknown cluster \"cluster-9\""]);
    writeFileSync(file, "{ not json");
    expect(sidecar.reload()).toBe(false);
    expect(get((await c.exchange(request, ok)).upstreamRequest, "x-failover-upstream")).toEqual(["cluster-2"]);
    expect(await admin(sidecar, "/metrics").then((m) => m.text)).toMatch(/failover_sidecar_policy_reloads_total\{result="rejected"\} 1/);
  });

  it("switches atomically under load: every request sees one policy or the other", async () => {
    const { sidecar, client } = await start({ policyFile: "/dev/null", readPolicy: () => JSON.stringify(policy({ routes: [{ name: "b2", match: { authority: "bookinfo.example.com" }, destination: { mode: "named", clusters: ["cluster-2"] } }] })) });
    const c = client();
    const pending = Array.from({ length: 300 }, (_, i) => {
      if (i === 150) sidecar.reload();
      return c.exchange(request, ok);
    });
    for (const r of await Promise.all(pending)) {
      const decision = get(r.upstreamRequest, "x-failover-decision")![0];
      expect(decision === undefined ? "" : decision).toMatch(/^route=(bookinfo cluster=cluster-1|b2 cluster=cluster-2) /);
    }
  });
});

describe("admin endpoint", () => {
  it("serves health, readiness, Prometheus metrics and the live plan", async () => {
    const { sidecar, client } = await start();
    await client().exchange(request, ok);
    expect(await admin(sidecar, "/healthz")).toEqual({ status: 200, text: "ok\n" });
    expect((await admin(sidecar, "/readyz")).status).toBe(200);
    const metrics = (await admin(sidecar, "/metrics")).text;
    expect(metrics).toMatch(/failover_sidecar_streams_total 1/);
    expect(metrics).toMatch(/failover_sidecar_messages_total\{kind="request_headers"\} 1/);
    expect(metrics).toMatch(/failover_sidecar_decision_seconds_count 1/);
    expect(metrics).toMatch(/failover_cluster_requests_total\{failover_cluster="cluster-1"\} 1/);
    expect(metrics).toMatch(/failover_route_cluster_share_percent\{failover_route="bookinfo",failover_cluster="cluster-1"\} 100/);
    const debug = JSON.parse((await admin(sidecar, "/debug/clusters")).text);
    expect(debug.localities[0].plan.routes[0].split).toEqual({ "cluster-1": 100, "cluster-2": 0 });
    expect((await admin(sidecar, "/nope")).status).toBe(404);
  });

  it("reports not ready while draining", async () => {
    const { sidecar } = await start();
    const closing = sidecar.close();
    expect((await admin(sidecar, "/readyz").catch(() => ({ status: 503 }))).status).toBe(503);
    await closing;
  });
});

describe("differential: sidecar and in-process filter decide alike", () => {
  it("gives identical choices and header mutations for the same trace", async () => {
    const p = policy({ health: { outlierDetection: { consecutive5xx: 2 }, probe: { percent: 5 } } });
    const { client } = await start({ policy: JSON.stringify(p) });
    const c = client();
    const vm = new PluginVm(compiled(FAILOVER_WASM), {
      pluginConfig: JSON.stringify(p), vmId: "failover", rootId: "locality:region-1/a//", clock: () => T, logger: () => {},
      properties: { xds: { node: { locality: { region: "region-1", zone: "a", sub_zone: "" }, metadata: { CLUSTER_ID: "" } } } },
    }).start();
    for (let i = 0; i < 60; i++) {
      const status = i >= 10 && i < 14 ? "503" : "200";
      const viaSidecar = await c.exchange(request, [[":status", status]]);
      const s = vm.createStream();
      s.sendRequestHeaders(request, true);
      s.sendResponseHeaders([[":status", status]], true, { response: { code: Number(status) } });
      s.end();
      expect(viaSidecar.upstreamRequest).toEqual(s.requestHeaders.toPairs());
      expect(viaSidecar.downstreamResponse).toEqual(s.responseHeaders.toPairs());
    }
  });
});

describe("failover serve (the process)", () => {
  it("serves the built-in default policy, then drains and exits 0 on SIGTERM", async () => {
    const p = new ServeProcess(["--port", "0", "--admin-port", "0"]);
    const port = await p.grpcPort();
    expect(p.lines.some((l) => l.msg === "no --policy given: serving the built-in default policy")).toBe(true);
    const c = new EnvoyLikeClient(port);
    const { upstreamRequest } = await c.exchange([[":authority", "bookinfo.tse.tetratelabs.io"], [":path", "/productpage"]], ok);
    c.close();
    expect(get(upstreamRequest, "x-failover-cluster")).toEqual(["cluster-1"]);
    p.child.kill("SIGTERM");
    expect((await p.exit()).code).toBe(0);
    expect(p.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["signal received", "draining", "stopped"]));
  });
});
