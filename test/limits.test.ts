// Every documented maximum (docs/testing.md, "Limits"), at the limit and one past it: accepted up
// to it, refused beyond it with a clear message. Filter limits hold in both modes (the sidecar
// runs the same module); the sidecar's own limits are checked over real gRPC.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigurationError, HeaderMap, PluginVm } from "../extproc/host/index.js";
import { HeaderEditor } from "../extproc/host/mutations.js";
import { DocumentError } from "../extproc/module/policy-file.js";
import { MAX_POLICY_BYTES, readPolicy } from "../extproc/sidecar/command.js";
import { MAX_LOCALITIES } from "../extproc/sidecar/filter-pool.js";
import { memoryLogger } from "../extproc/sidecar/logger.js";
import { headerMutation } from "../extproc/sidecar/protocol.js";
import { DEFAULTS, type Sidecar, type SidecarOptions, startSidecar } from "../extproc/sidecar/server.js";
import { EnvoyLikeClient, attrs, headerProto, num, str, struct } from "./support/extproc-client.js";
import { Workers } from "./support/fuzz.js";
import { FAILOVER_WASM, compiled } from "./support/wasm.js";

/** Starts the module on a policy; the module's error lines when refused, [] when accepted. */
function refusal(policy: object | string): string[] {
  try {
    new PluginVm(compiled(FAILOVER_WASM), { pluginConfig: typeof policy === "string" ? policy : JSON.stringify(policy), logger: () => {} }).start();
    return [];
  } catch (e) {
    if (e instanceof ConfigurationError) return e.moduleLog;
    throw e;
  }
}

const clusters = (n: number, name = (i: number) => `c${i}`) => Array.from({ length: n }, (_, i) => ({ name: name(i), region: `r${i % 3}`, hosts: ["*"] }));
const routes = (n: number, extra: object = {}) => Array.from({ length: n }, (_, i) => ({ name: `r${i}`, match: { authority: `h${i}.example.com` }, destination: { mode: "auto" }, ...extra }));

describe("filter limits (both modes)", () => {
  it("the module itself stays within 64 KiB", () => {
    expect(statSync(FAILOVER_WASM).size).toBeLessThanOrEqual(64 * 1024);
  });

  it("its static objects carry no allocator size words (the build drops them: scripts/static-block-sizes.mjs)", async () => {
    const { dropStaticBlockSizes } = await import("../scripts/static-block-sizes.mjs");
    expect(dropStaticBlockSizes(readFileSync(FAILOVER_WASM)).dropped).toBe(0);
    // asc's own release output has them, one data segment each, and stays valid without them.
    const { default: asc } = await import("assemblyscript/asc");
    const out = join(mkdtempSync(join(tmpdir(), "failover-asc-")), "probe.wasm");
    const { error } = await asc.main(["assembly/fixtures/probe.ts", "--config", "asconfig.json", "--target", "release", "--outFile", out], { stdout: { write() {} }, stderr: { write() {} } });
    expect(error).toBeNull();
    const dropped = dropStaticBlockSizes(readFileSync(out));
    expect(dropped.dropped).toBeGreaterThan(20);
    expect(WebAssembly.validate(dropped.bytes)).toBe(true);
  });

  it("clusters: 64", () => {
    expect(refusal({ clusters: clusters(64), routes: routes(1) })).toEqual([]);
    expect(refusal({ clusters: clusters(65), routes: routes(1) })).toEqual(["failover: policy: clusters: at most 64 clusters"]);
  });

  it("routes: 256", () => {
    expect(refusal({ clusters: clusters(16), routes: routes(256) })).toEqual([]);
    expect(refusal({ clusters: clusters(1), routes: routes(257) })).toEqual(["failover: policy: routes: at most 256 routes"]);
  });

  it("clusters over all routes: 4096 (each route's candidates, summed)", () => {
    expect(refusal({ clusters: clusters(64), routes: routes(64) })).toEqual([]);
    expect(refusal({ clusters: clusters(64), routes: routes(65) })).toEqual([
      "failover: policy: routes: at most 4096 clusters over all routes (each route's clusters, summed), got 4160",
    ]);
  });

  it("names of clusters, aggregates and routes: 255 characters", () => {
    const long = (n: number) => "n".repeat(n);
    const policy = (len: number) => ({
      clusters: [{ name: long(len), hosts: ["*"] }, { name: "b", hosts: ["*"] }],
      aggregates: [{ name: `${long(len - 1)}x`, clusters: [long(len), "b"] }],
      routes: [{ name: `${long(len - 1)}r`, destination: { mode: "auto" } }],
    });
    expect(refusal(policy(255))).toEqual([]);
    expect(refusal(policy(256))).toEqual([
      "failover: policy: clusters[0].name: at most 255 characters",
      "failover: policy: aggregates[0].name: at most 255 characters",
      "failover: policy: routes[0].name: at most 255 characters",
    ]);
  });

  it("policy document: 1 MiB (1048576 bytes), refused unread beyond", () => {
    const text = JSON.stringify({ clusters: clusters(2), routes: routes(1) });
    // JSON allows whitespace: pad to exactly the limit, then one byte more.
    expect(refusal(text + " ".repeat(MAX_POLICY_BYTES - text.length))).toEqual([]);
    expect(refusal(text + " ".repeat(MAX_POLICY_BYTES - text.length + 1))).toEqual([
      "failover: policy: document: 1048577 bytes; the limit is 1048576 (1 MiB)",
    ]);
  });

  it("JSON nesting: 64 levels", () => {
    expect(refusal(`{"clusters":${"[".repeat(64)}${"]".repeat(64)}}`)).not.toContainEqual(expect.stringMatching(/nesting/));
    expect(refusal(`{"clusters":${"[".repeat(65)}${"]".repeat(65)}}`)).toEqual([expect.stringMatching(/^failover: policy: document: line 1, column \d+: nesting deeper than 64$/)]);
  });

  it("a policy at every maximum at once works: 64 clusters x 64 routes with 255-character names and aggregates", () => {
    const name = (i: number) => `${i}-`.padEnd(255, "n");
    const policy = {
      clusters: clusters(64, name),
      aggregates: Array.from({ length: 64 }, (_, i) => ({ name: `a${i}-`.padEnd(255, "a"), clusters: [name(i), name((i + 1) % 64)] })),
      routes: routes(64, { name: undefined, retry: { acrossClusters: true } }).map((r, i) => ({ ...r, name: `r${i}-`.padEnd(255, "r") })),
      health: { outlierDetection: { consecutive5xx: 1 } },
    };
    const w = new Workers(policy);
    for (let i = 0; i < 64; i++) {
      const d = w.request(0, [[":authority", `h${i}.example.com`], [":path", "/"]]);
      w.complete(d.stream, { code: i % 2 ? 503 : 200, flags: 0, attempts: 1, latencyMs: 1 });
    }
    w.advance(2000);
    w.expectAlive();
    // The shared data it keeps: one fixed-size record per cluster, and the plan.
    const bytes = w.shared.bytes("failover");
    expect(bytes).toBeLessThan(6 * 1024 * 1024);
    expect(w.vms[0].memoryPages * 65536).toBeLessThanOrEqual(512 * 1024 * 1024);
  }, 60_000);

  it("shared data: one fixed-size health record per cluster (2,148 bytes, its endpoint table included) whatever the traffic", () => {
    const w = new Workers({ clusters: clusters(3), routes: [{ destination: { mode: "auto" } }], health: { window: "1s" } });
    for (let i = 0; i < 3000; i++) {
      const d = w.request(0, [[":authority", "x"], [":path", "/"]]);
      w.complete(d.stream, { code: i % 7 ? 200 : 503, flags: i % 11 ? 0 : 0x20, attempts: 1 + (i % 3), latencyMs: i % 50 });
      if (i % 100 === 0) w.advance(700);
    }
    const records = w.shared.keys("failover").filter((k) => k.startsWith("failover.health."));
    expect(records.sort()).toEqual(["failover.health.c0", "failover.health.c1", "failover.health.c2"]);
    for (const k of records) expect(w.shared.get("failover", k)!.value.length).toBe(2148);
  });

  it("attempts per request: 101 (100 retries, the policy's maximum, plus the first)", () => {
    const w = new Workers({ clusters: clusters(1), routes: [{ destination: { mode: "auto" } }], health: { outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 0, consecutiveLocalOriginFailures: 0 }, window: "1h" } });
    // Each earlier attempt counts as a failure: before the cap, 10^6 attempts looped for seconds
    // and 2^53 for ever, from one access-log entry (or one ext_proc attribute). The million comes
    // first, so that without the cap this test fails instead of hanging.
    for (const attempts of [1_000_000, 2 ** 40, BigInt(2 ** 53)]) {
      const started = performance.now();
      const d = w.request(0, [[":authority", "x"], [":path", "/"]]);
      w.complete(d.stream, { code: 200, flags: 0, attempts, latencyMs: 1 });
      expect(performance.now() - started).toBeLessThan(500);
    }
    w.advance(300);
    expect(w.plan().clusters[0]).toMatchObject({ requests: 303, failures: 300 });
  });
});

describe("sidecar limits", () => {
  const running: { sidecar: Sidecar; client: EnvoyLikeClient }[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.client.close();
      await r.sidecar.close();
    }
  });
  async function start(options: Partial<SidecarOptions> = {}) {
    const logger = memoryLogger();
    const sidecar = await startSidecar({
      policy: JSON.stringify({ clusters: [{ name: "a", hosts: ["*"] }], routes: [{ destination: { mode: "auto" } }] }),
      modulePath: FAILOVER_WASM, port: 0, adminPort: null, timers: false, logger, drainMs: 200, ...options,
    });
    const client = new EnvoyLikeClient(sidecar.port);
    running.push({ sidecar, client });
    return { sidecar, client, logger };
  }
  const request = (extra: [string, string][] = []) => ({ request_headers: { headers: headerProto([[":authority", "x"], [":path", "/"], ...extra]), end_of_stream: true } });

  it("header bytes: 1 MiB by default (names plus values), RESOURCE_EXHAUSTED beyond", async () => {
    const { client } = await start();
    // Exactly `total` bytes of names and values with the two pseudo-headers of request().
    const base = ":authority".length + "x".length + ":path".length + "/".length;
    const at = (total: number) => [["x-fill", "f".repeat(total - base - "x-fill".length)]] as [string, string][];
    const ok = await client.open().send(request(at(DEFAULTS.maxHeaderBytes)));
    expect(ok.request_headers).toBeDefined();
    const over = await client.open().send(request(at(DEFAULTS.maxHeaderBytes + 1)));
    expect(over.error?.code).toBe(8);
    expect(over.error?.details).toBe("header set of 1048577 bytes exceeds the limit of 1048576");
  });

  it("header bytes can be raised past gRPC's 4 MiB message default (--max-header-bytes)", async () => {
    const { client } = await start({ maxHeaderBytes: 6 << 20 });
    const r = await client.open().send(request([["x-fill", "f".repeat(5 << 20)]]));
    expect(r.request_headers).toBeDefined();
    // Beyond the sidecar's limit and gRPC's, gRPC itself refuses, as clearly.
    const { client: small } = await start();
    const big = await small.open().send(request([["x-fill", "f".repeat(5 << 20)]]));
    expect(big.error?.code).toBe(8);
    expect(big.error?.details).toMatch(/larger than max|exceeds the limit/);
  });

  it("header count: 10,000 by default, RESOURCE_EXHAUSTED beyond; answered quickly either way", async () => {
    const { client } = await start();
    const many = (n: number) => Array.from({ length: n - 2 }, (_, i) => [`h${i}`, ""] as [string, string]);
    const started = performance.now();
    const ok = await client.open().send(request(many(DEFAULTS.maxHeaderCount)));
    expect(ok.request_headers).toBeDefined();
    expect(performance.now() - started).toBeLessThan(5000);
    const over = await client.open().send(request(many(DEFAULTS.maxHeaderCount + 1)));
    expect(over.error?.code).toBe(8);
    expect(over.error?.details).toBe("header set of 10001 headers exceeds the limit of 10000");
  });

  it("the header mutation is computed in linear time (50,000 distinct names)", () => {
    // Regression: the mutation filtered every entry once per name: 20,000 names took 5.5 s.
    const headers = new HeaderMap(Array.from({ length: 50_000 }, (_, i) => [`h${i}`, "v"] as [string, string]));
    const started = performance.now();
    const editor = new HeaderEditor(headers);
    editor.set("x-failover-upstream", "a");
    const m = headerMutation(editor.changes());
    expect(performance.now() - started).toBeLessThan(1000);
    expect(m).toEqual({ set_headers: [{ header: { key: "x-failover-upstream", raw_value: Buffer.from("a") } }], remove_headers: [] });
  });

  it("concurrent streams: --max-streams, then UNAVAILABLE naming the limit", async () => {
    const { sidecar, client } = await start({ maxStreams: 5 });
    const open = Array.from({ length: 5 }, () => client.open());
    for (const s of open) await s.send({ request_headers: { headers: headerProto([[":authority", "x"]]) } });
    const shed = await client.open().send(request());
    expect(shed.error?.code).toBe(14);
    expect(shed.error?.details).toBe("overloaded: 5 streams in flight (limit 5)");
    for (const s of open) await s.close();
    expect((await client.open().send(request())).request_headers).toBeDefined();
    expect((await sidecar.metrics.shed.get()).values[0].value).toBe(1);
  });

  it("proxy localities: 64 VMs; Envoys beyond share the sidecar's own (with one warning)", async () => {
    const { sidecar, client, logger } = await start({ locality: { region: "home" } });
    const node = (i: number) => ({ kind: "structValue", structValue: struct({ locality: { kind: "structValue", structValue: struct({ region: str(`r${i}`) }) } }) });
    for (let i = 0; i < MAX_LOCALITIES + 6; i++) {
      const r = await client.exchange([[":authority", "x"], [":path", "/"]], [[":status", "200"]], { requestAttributes: attrs({ "xds.node": node(i) }), responseAttributes: attrs({ "response.code": num(200) }) });
      expect(r.upstreamRequest?.find(([k]) => k === "x-failover-upstream")?.[1]).toBe("a");
    }
    expect(sidecar.pool.plans().length).toBe(MAX_LOCALITIES);
    expect(logger.lines.filter((l) => l.msg.startsWith("too many proxy localities"))).toHaveLength(1);
  });

  it("policy file: 1 MiB, refused before parsing; a reload keeps the last good policy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-limits-"));
    const file = join(dir, "policy.yaml");
    const good = "clusters: [{name: a, hosts: ['*']}]\nroutes: [{destination: {mode: auto}}]\n";
    writeFileSync(file, good + "#".repeat(MAX_POLICY_BYTES - good.length));
    expect(JSON.parse(readPolicy(file)).clusters[0].name).toBe("a");
    writeFileSync(file, good + "#".repeat(MAX_POLICY_BYTES - good.length + 1));
    expect(() => readPolicy(file)).toThrow(DocumentError);
    expect(() => readPolicy(file)).toThrow(/1048577 bytes; a policy file may have at most 1048576 \(1 MiB\)/);
    writeFileSync(file, good);
    const { sidecar, logger } = await start({ policy: readPolicy(file), policyFile: file, readPolicy });
    writeFileSync(file, good + "#".repeat(MAX_POLICY_BYTES));
    expect(sidecar.reload()).toBe(false);
    expect(logger.lines.find((l) => l.msg.startsWith("policy file unreadable"))?.fields?.error).toMatch(/a policy file may have at most/);
  });
});
