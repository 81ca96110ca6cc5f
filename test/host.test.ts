// The proxy-wasm host, exercised through the real compiled probe fixture (assembly/fixtures/
// probe.ts): every ABI area the filter relies on, with Envoy's rules for each call.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import {
  ConfigurationError, HeaderMap, HeadersStatus, LinkError, LogLevel, MapType, Metrics, PluginVm,
  SharedData, StreamStateError, WasmResult, WasmTrapError,
} from "../extproc/host/index.js";
import { config, probe } from "./support/probe.js";
import { PROBE_WASM, startVm } from "./support/wasm.js";

describe("configuration", () => {
  it("delivers the plugin configuration to on_configure", () => {
    const { vm, logs } = startVm(PROBE_WASM, { pluginConfig: config({ responseHeader: ["x-configured", "yes"] }) });
    const { s } = probe(vm, []);
    expect(s.responseHeaders.get("x-configured")).toBe("yes");
    expect(logs.some((l) => l.message === "probe: configured")).toBe(true);
  });

  it("rejects a configuration the module refuses, with the module's own reason", () => {
    expect(() => startVm(PROBE_WASM, { pluginConfig: config({ reject: true }) })).toThrow(ConfigurationError);
    try {
      startVm(PROBE_WASM, { pluginConfig: "{ not json" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigurationError);
      expect((e as Error).message).toMatch(/on_configure returned false.*probe: bad configuration: line 1, column 3/);
    }
  });

  it("serves the plugin configuration only during on_configure (NotFound afterwards)", () => {
    // The probe reads its configuration in on_configure only; an empty one arrives as "{}".
    const { vm } = startVm(PROBE_WASM, { pluginConfig: "" });
    expect(vm.failure).toBeUndefined();
  });
});

describe("header maps", () => {
  it("reads headers case-insensitively and reports missing ones as NotFound", () => {
    const { vm } = startVm(PROBE_WASM);
    const { results } = probe(vm, ["get:x-upper", "get::authority", "get:absent"], [["X-Upper", "Value"]]);
    expect(results).toEqual(["Value", "example.com", "<missing>"]);
  });

  it("keeps repeated names in order and returns the first for a single get", () => {
    const { vm } = startVm(PROBE_WASM);
    const { s, results } = probe(vm, ["get:x-rep", "count"], [["x-rep", "one"], ["x-rep", "two"]]);
    expect(results[0]).toBe("one");
    expect(s.requestHeaders.getAll("x-rep")).toEqual(["one", "two"]);
    expect(results[1]).toBe(String(s.requestHeaders.size));
  });

  it("replaces, adds and removes request headers, and clears the route cache when it does", () => {
    const { vm } = startVm(PROBE_WASM);
    const { s, results } = probe(vm, ["set:x-rep=only", "add:x-new=1", "add:x-new=2", "remove:x-gone", "set::authority=other.example"],
      [["x-rep", "a"], ["x-rep", "b"], ["x-gone", "bye"]]);
    expect(results).toEqual(["0", "0", "0", "0", "0"]);
    expect(s.requestHeaders.getAll("x-rep")).toEqual(["only"]);
    expect(s.requestHeaders.getAll("x-new")).toEqual(["1", "2"]);
    expect(s.requestHeaders.has("x-gone")).toBe(false);
    expect(s.requestHeaders.get(":authority")).toBe("other.example");
    expect(s.routeCacheCleared).toBe(true);
  });

  it("takes a HeaderMap as it is (the sidecar's form): byte and string values read as their bytes, the caller's map untouched", () => {
    // The sidecar hands over the map it built from ext_proc's raw_value bytes; strings in it are
    // encoded only when the module reads them, as UTF-8, the same bytes as before.
    const { vm } = startVm(PROBE_WASM);
    const given = new HeaderMap([[":method", "GET"], [":path", "/"], [":authority", "example.com"], [":scheme", "http"]]);
    given.add("x-bytes", Buffer.from("raw-ünï"));
    given.add("X-Text", "text-ünï");
    for (const a of ["get:x-bytes", "get:x-text", "count", "set:x-bytes=new"]) given.add("x-probe", a);
    const s = vm.createStream();
    const r = s.sendRequestHeaders(given, true);
    s.sendResponseHeaders([[":status", "200"]], true);
    expect(s.responseHeaders.getAll("x-probe-result")).toEqual(["raw-ünï", "text-ünï", "10", "0"]);
    expect(r.mutations.headers.get(MapType.HttpRequestHeaders)?.map((c) => [c.name, c.values.map((v) => Buffer.from(v).toString())])).toEqual([["x-bytes", ["new"]]]);
    expect(given.get("x-bytes")).toBe("raw-ünï"); // the stream's map is its own
    expect(given.size).toBe(10);
  });

  it("reads names that share a slot of the host's text table (same length, first and last byte) each as itself", () => {
    // memory.ts keeps recently decoded texts by (length, first byte, last byte); a hit must still
    // spell the bytes, so "x-ab" and "x-bb" never answer for each other.
    const { vm } = startVm(PROBE_WASM);
    const { results } = probe(vm, ["get:x-ab", "get:x-bb", "get:x-ab", "get:x-cb"], [["x-ab", "1"], ["x-bb", "2"]]);
    expect(results).toEqual(["1", "2", "1", "<missing>"]);
  });

  it("keeps the bytes of values the module writes, ASCII (kept as text) or not", () => {
    const { vm } = startVm(PROBE_WASM);
    const { s } = probe(vm, ["set:x-ascii=plain", "set:x-utf8=ünï", "add:x-ascii=again"]);
    expect(s.requestHeaders.getBytes("x-utf8")).toEqual(Buffer.from("ünï"));
    expect(s.requestHeaders.getAll("x-ascii")).toEqual(["plain", "again"]);
    expect(Buffer.from(s.requestHeaders.getBytes("x-ascii")!)).toEqual(Buffer.from("plain"));
  });

  it("does not clear the route cache when only reading", () => {
    const { vm } = startVm(PROBE_WASM);
    expect(probe(vm, ["get:x-a"]).s.routeCacheCleared).toBe(false);
  });

  it("replaces a whole map through the pairs format", () => {
    const { vm } = startVm(PROBE_WASM);
    const { s, results } = probe(vm, ["replace-all:x-solo=1"], [["x-other", "z"]]);
    expect(results).toEqual(["0"]);
    expect(s.requestHeaders.toPairs()).toEqual([
      [":method", "GET"], [":path", "/"], [":authority", "example.com"], [":scheme", "http"], ["x-solo", "1"],
    ]);
  });

  it("passes non-UTF-8 header bytes through unchanged", () => {
    const { vm } = startVm(PROBE_WASM);
    const s = vm.createStream();
    const raw = Uint8Array.of(0xff, 0xfe, 0x41);
    s.sendRequestHeaders([[":path", "/"], ["x-bin", raw], ["x-probe", "set:x-copy=ok"]], true);
    expect(s.requestHeaders.getBytes("x-bin")).toEqual(raw);
    expect(s.requestHeaders.get("x-copy")).toBe("ok");
  });

  it("round-trips the pairs serialization", () => {
    const entries = [{ name: "a", value: new TextEncoder().encode("1") }, { name: ":path", value: new Uint8Array(0) }];
    const bytes = PluginVm.encodePairs(entries);
    expect(bytes.length).toBe(4 + 2 * 8 + (1 + 1 + 1 + 1) + (5 + 1 + 0 + 1));
    expect(PluginVm.decodePairs(bytes)?.map(([k, v]) => [k, new TextDecoder().decode(v)])).toEqual([["a", "1"], [":path", ""]]);
    expect(PluginVm.decodePairs(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
  });

  it("decodes pairs from the module's memory (a Buffer) into copies the module cannot overwrite later", () => {
    // proxy_set_header_map_pairs and proxy_send_local_response hand decodePairs a Buffer view of
    // linear memory; Buffer's slice() is a view, so values must be copied out of it.
    const memory = Buffer.from(PluginVm.encodePairs([{ name: "x-a", value: Buffer.from("before") }]));
    const [[, value]] = PluginVm.decodePairs(memory)!;
    memory.fill(0x21);
    expect(Buffer.from(value).toString()).toBe("before");
  });
});

describe("properties", () => {
  it("serves node, stream and response properties with Envoy's encodings", () => {
    const { vm } = startVm(PROBE_WASM, {
      properties: { xds: { node: { locality: { region: "region-1", zone: "zone-a" }, metadata: { CLUSTER_ID: "cluster-1" } } } },
    });
    const { results } = probe(vm, [
      "property:xds.node.locality.region", "property:xds.node.metadata.CLUSTER_ID", "property:source.address",
      "property-int:source.port", "property:absent.thing", "property-size:xds.node.locality",
    ], [], { source: { address: "10.0.0.1:5000", port: 5000 } });
    // A whole message is served as Envoy serializes it, protobuf: Locality{region, zone} is
    // 2 + 8 + 2 + 6 bytes (host-envoy.test.ts checks the bytes).
    expect(results).toEqual(["region-1", "cluster-1", "10.0.0.1:5000", "5000", "<missing>", "18"]);
  });

  it("gives on_log the final response code and flags", () => {
    const { vm, logs } = startVm(PROBE_WASM);
    const { s } = probe(vm, []);
    s.end({ response: { code: 503, flags: 0x20 } });
    expect(logs.map((l) => l.message)).toContain("probe log: code=503 flags=32");
  });
});

describe("shared data", () => {
  it("counts without losing an update across VMs that share the store (CAS retries)", () => {
    const shared = new SharedData();
    const a = startVm(PROBE_WASM, { shared, vmId: "failover" }).vm;
    const b = startVm(PROBE_WASM, { shared, vmId: "failover" }).vm;
    for (let i = 0; i < 50; i++) probe(i % 2 ? a : b, ["shared-inc:hits"]);
    const { results } = probe(a, ["shared-get:hits"]);
    expect(results[0]).toMatch(/^50@\d+$/);
    // Other VM ids do not see it.
    const other = startVm(PROBE_WASM, { shared, vmId: "other" }).vm;
    expect(probe(other, ["shared-get:hits"]).results).toEqual(["<missing>"]);
  });

  it("refuses a write with a stale CAS token (CasMismatch)", () => {
    const { vm } = startVm(PROBE_WASM);
    probe(vm, ["shared-inc:k"]);
    const { results } = probe(vm, ["shared-stale:k"]);
    expect(results).toEqual([`${WasmResult.Ok},${WasmResult.CasMismatch}`]);
  });

  it("issues increasing CAS tokens from one counter and treats 0 as unconditional", () => {
    const shared = new SharedData();
    expect(shared.set("", "a", Uint8Array.of(1), 0)).toBe(WasmResult.Ok);
    const first = shared.get("", "a")!.cas;
    expect(shared.set("", "b", Uint8Array.of(1), 0)).toBe(WasmResult.Ok);
    expect(shared.get("", "b")!.cas).toBe(first + 1);
    expect(shared.set("", "a", Uint8Array.of(2), first + 100)).toBe(WasmResult.CasMismatch);
    expect(shared.set("", "a", Uint8Array.of(3), 0)).toBe(WasmResult.Ok);
    expect(shared.get("", "a")!.value).toEqual(Uint8Array.of(3));
  });
});

describe("ticks", () => {
  it("delivers on_tick at the period the module set", () => {
    const { vm } = startVm(PROBE_WASM, { pluginConfig: config({ tickMs: 250 }) });
    expect(vm.tickPeriodMs).toBe(250);
    vm.tick();
    vm.tick();
    vm.tick();
    expect(vm.metrics.value("probe.ticks")).toBe(3n);
    expect(probe(vm, ["shared-get:probe.ticks"]).results[0]).toMatch(/^3@/);
  });

  it("does not tick a module that asked for no ticks", () => {
    const { vm } = startVm(PROBE_WASM);
    vm.tick();
    expect(vm.metrics.value("probe.ticks")).toBe(0n);
  });

  it("runs real timers when asked", async () => {
    const { vm } = startVm(PROBE_WASM, { pluginConfig: config({ tickMs: 5 }) });
    vm.startTimers();
    await new Promise((r) => setTimeout(r, 60));
    vm.stopTimers();
    expect(vm.metrics.value("probe.ticks")).toBeGreaterThan(0n);
  });
});

describe("metrics", () => {
  it("counts, sets gauges and records histograms in a store shared by VMs", () => {
    const metrics = new Metrics();
    const a = startVm(PROBE_WASM, { metrics }).vm;
    const b = startVm(PROBE_WASM, { metrics }).vm;
    expect(probe(a, ["counter:requests"]).results).toEqual(["1"]);
    expect(probe(b, ["counter:requests"]).results).toEqual(["2"]);
    expect(probe(a, ["gauge:score=75"]).results).toEqual(["75"]);
    expect(probe(a, ["histogram:latency=12", "histogram:latency=30"]).results).toEqual(["0", "0"]);
    expect(metrics.value("requests")).toBe(2n);
    expect(metrics.value("score")).toBe(75n);
    expect(metrics.get("latency")).toMatchObject({ count: 2, sum: 42 });
  });

  it("keeps one stat per name and type: the same name as a gauge is another stat (Ok)", () => {
    // Envoy's Context::defineMetric never compares types: its scope holds counters and gauges apart.
    const { vm } = startVm(PROBE_WASM);
    probe(vm, ["counter:dual"]);
    expect(probe(vm, ["define:1=dual", "gauge:dual=7"]).results).toEqual(["0", "7"]);
    expect(vm.metrics.get("dual", 0)?.value).toBe(1n);
    expect(vm.metrics.get("dual", 1)?.value).toBe(7n);
  });
});

describe("local replies", () => {
  it("answers the request itself and runs the response callbacks on the reply", () => {
    const { vm } = startVm(PROBE_WASM, { pluginConfig: config({ responseHeader: ["x-configured", "yes"] }) });
    const { req } = probe(vm, ["reply:429=slow down"]);
    expect(req.localReply).toBeDefined();
    expect(req.status).not.toBe(HeadersStatus.Continue);
    expect(req.localReply!.status).toBe(429);
    expect(req.localReply!.details).toBe("probe_reply");
    expect(new TextDecoder().decode(req.localReply!.body)).toBe("slow down");
    expect(req.localReply!.headers.get("x-probe-reply")).toBe("yes");
    expect(req.localReply!.headers.get(":status")).toBe("429");
    // The encoder path ran the module's on_response_headers on the reply.
    expect(req.localReply!.headers.get("x-configured")).toBe("yes");
  });
});

describe("traps", () => {
  it("surfaces a trap as a clear error and fails the stream with 503 wasm_fail_stream", () => {
    const { vm, logs } = startVm(PROBE_WASM);
    const { req } = probe(vm, ["trap"]);
    expect(req.failure).toBeInstanceOf(WasmTrapError);
    expect(req.failure!.message).toMatch(/proxy_on_request_headers.*probe asked to trap at assembly\/fixtures\/probe.ts:1:1/);
    expect(req.localReply).toMatchObject({ status: 503, details: "wasm_fail_stream", grpcStatus: 14 });
    expect(vm.failure).toBe(req.failure);
    expect(logs.some((l) => l.level === LogLevel.Critical && l.message.includes("probe asked to trap"))).toBe(true);
  });

  it("fails later streams closed by default", () => {
    const { vm } = startVm(PROBE_WASM);
    probe(vm, ["trap"]);
    const { req } = probe(vm, ["set:x-a=1"]);
    expect(req.localReply?.status).toBe(503);
  });

  it("lets later streams through untouched when the plugin fails open", () => {
    const { vm } = startVm(PROBE_WASM, { failOpen: true });
    probe(vm, ["trap"]);
    const { req, s } = probe(vm, ["set:x-a=1"]);
    expect(req.localReply).toBeUndefined();
    expect(req.status).toBe(HeadersStatus.Continue);
    expect(s.requestHeaders.has("x-a")).toBe(false);
  });
});

describe("stream order", () => {
  it("refuses callbacks out of Envoy's order", () => {
    const { vm } = startVm(PROBE_WASM);
    const s = vm.createStream();
    expect(() => s.sendResponseHeaders([[":status", "200"]])).toThrow(StreamStateError);
    s.sendRequestHeaders([[":path", "/"]], true);
    expect(() => s.sendRequestHeaders([[":path", "/"]])).toThrow(StreamStateError);
    s.sendResponseHeaders([[":status", "200"]], true);
    expect(() => s.sendRequestBody(new Uint8Array(1), true)).toThrow(StreamStateError);
    s.end();
    expect(() => s.sendResponseTrailers([])).toThrow(StreamStateError);
  });

  it("buffers the request body when the module asks to", () => {
    const { vm } = startVm(PROBE_WASM);
    const s = vm.createStream();
    s.sendRequestHeaders([[":path", "/"]], false);
    s.sendRequestBody(new TextEncoder().encode("hello "), false);
    s.sendRequestBody(new TextEncoder().encode("world"), true);
    s.sendResponseHeaders([[":status", "200"]], true);
    expect(s.responseHeaders.getAll("x-probe-result")).toEqual(["body:hello world"]);
  });

  it("makes request headers unreachable from response callbacks (BadArgument)", () => {
    // The probe's response callback adds its results to the response map; a request-map write
    // there would not be visible. We check the rule on the host directly.
    const { vm } = startVm(PROBE_WASM);
    const s = vm.createStream();
    s.sendRequestHeaders([[":path", "/"]], true);
    s.sendResponseHeaders([[":status", "200"]], true);
    expect(s.map(MapType.HttpRequestHeaders, false)).toBeUndefined();
    expect(s.map(MapType.HttpResponseHeaders, false)).toBeUndefined();
    s.end();
  });

  it("reports the host's log level and current time", () => {
    const { vm } = startVm(PROBE_WASM, { logLevel: LogLevel.Warn, clock: () => 1_700_000_000_123_456_789n });
    const { results } = probe(vm, ["log:1=hidden", "log:4=shown", "time"]);
    expect(results).toEqual([String(LogLevel.Warn), String(LogLevel.Warn), "1700000000123456789"]);
  });
});

describe("linking", () => {
  it("refuses a module that imports env.abort, naming it", () => {
    const m = new binaryen.Module();
    m.addFunctionImport("abort", "env", "abort", binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none);
    m.setMemory(1, 1, "memory");
    const bytes = m.emitBinary() as Uint8Array<ArrayBuffer>;
    m.dispose();
    const vm = new PluginVm(new WebAssembly.Module(bytes), { logger: () => {} });
    expect(() => vm.start()).toThrow(/env\.abort/);
    expect(() => new PluginVm(new WebAssembly.Module(bytes)).start()).toThrow(LinkError);
  });
});
