// The host as Envoy's, call by call: each rule below is one place where Envoy's proxy-wasm host
// (envoyproxy/envoy source/extensions/common/wasm/context.cc, proxy-wasm-cpp-host src/) answers
// differently from a convenient guess. Sources and versions: test/data/ENVOY-HOST-NOTES.md §12.
// Every test runs the compiled probe fixture (assembly/fixtures/probe.ts) or a hand-assembled
// module through the host.
import binaryen from "binaryen";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  HeadersStatus, LinkError, LogLevel, MetricType, PluginVm, SharedData,
  TrailersStatus, WasmResult, WasmTrapError,
} from "../extproc/host/index.js";
import { importFn, testModule } from "./support/wasm-modules.js";
import { config, probe } from "./support/probe.js";
import { PROBE_WASM, compiled, startVm } from "./support/wasm.js";

const RESULT = (r: WasmResult) => String(r);

describe("metrics (envoy context.cc defineMetric / incrementMetric / getMetric)", () => {
  it("refuses a counter increment of 0 or less with BadArgument", () => {
    const { vm } = startVm(PROBE_WASM);
    const { results } = probe(vm, ["counter-add:c=0", "counter-add:c=-3", "counter-add:c=2"]);
    expect(results).toEqual([RESULT(WasmResult.BadArgument), RESULT(WasmResult.BadArgument), RESULT(WasmResult.Ok)]);
    expect(vm.metrics.value("c", MetricType.Counter)).toBe(2n);
  });

  it("answers get_metric on a histogram id with BadArgument, defined or not (type before lookup)", () => {
    const { vm } = startVm(PROBE_WASM);
    // Ids: type in the low two bits; 6 is the first histogram id, 7 has no type at all.
    const { results } = probe(vm, ["define:2=h", "metric-get:6", "metric-get:10", "metric-get:7", "metric-get:8"]);
    expect(results).toEqual(["0", RESULT(WasmResult.BadArgument), RESULT(WasmResult.BadArgument), RESULT(WasmResult.BadArgument), RESULT(WasmResult.NotFound)]);
  });

  it("keeps gauges unsigned: going below zero wraps the uint64", () => {
    const { vm } = startVm(PROBE_WASM);
    expect(probe(vm, ["gauge-add:g=-1"]).results).toEqual(["0,18446744073709551615"]);
    expect(vm.metrics.get("g", MetricType.Gauge)?.value).toBe(2n ** 64n - 1n);
  });
});

describe("buffers (envoy context.cc getBuffer, cpp-host exports.cc get_buffer_bytes)", () => {
  it("serves the VM configuration in any callback, the plugin configuration only in on_configure", () => {
    const { vm } = startVm(PROBE_WASM, { vmConfig: "vm settings", pluginConfig: config({}) });
    expect(probe(vm, ["vm-config", "plugin-config"]).results).toEqual(["vm:vm settings", "<missing>"]);
  });

  it("clamps a range past the end instead of refusing it: start + length is checked in 64 bits", () => {
    const { vm } = startVm(PROBE_WASM, { vmConfig: "vm settings" });
    // A start past the end: Ok and empty.
    expect(probe(vm, [`vm-config:3,${0xffffffff - 1}`, "vm-config:20,5"]).results).toEqual(["vm:settings", "vm:"]);
  });
});

describe("header maps", () => {
  it("has no mutable maps in on_log: get_header_map_size answers BadArgument there", () => {
    const { vm, logs } = startVm(PROBE_WASM);
    const { s, results } = probe(vm, ["size:0"], [["x-probe-log", "size:0"], ["x-probe-log", "size:2"]]);
    expect(results).toEqual([RESULT(WasmResult.Ok)]);
    s.end({ response: { code: 200 } });
    const logged = logs.filter((l) => l.message.startsWith("probe log-result:")).map((l) => l.message);
    expect(logged).toEqual([`probe log-result: ${WasmResult.BadArgument}`, `probe log-result: ${WasmResult.BadArgument}`]);
  });

  it("gives on_log no request trailers (Envoy's access log carries none)", () => {
    const { vm, logs } = startVm(PROBE_WASM);
    const s = vm.createStream();
    s.sendRequestHeaders([[":path", "/"], ["x-probe-log", "get-trailer:x-t"]], false);
    s.sendRequestTrailers([["x-t", "1"]]);
    s.sendResponseHeaders([[":status", "200"]], true);
    s.end({ response: { code: 200 } });
    expect(logs.filter((l) => l.message.startsWith("probe log-result:")).map((l) => l.message)).toEqual(["probe log-result: <missing>"]);
  });

  it("replaces a header as Envoy's setCopy does: every value removed, the new one appended", () => {
    const { vm } = startVm(PROBE_WASM);
    const { s } = probe(vm, ["set:x-a=9", "set::path=/new"], [["x-a", "1"], ["x-b", "2"], ["x-a", "3"]]);
    const names = s.requestHeaders.entries.map((e) => e.name).filter((n) => n !== "x-probe");
    expect(names).toEqual([":method", ":authority", ":scheme", ":path", "x-b", "x-a"]);
    expect(s.requestHeaders.getAll("x-a")).toEqual(["9"]);
    expect(s.requestHeaders.get(":path")).toBe("/new");
  });

  it("treats a pairs blob over 1 MiB as empty (cpp-host PairsUtil::toPairs)", () => {
    const { vm } = startVm(PROBE_WASM);
    expect(probe(vm, ["big-pairs:x-big=1000"]).results).toEqual(["1"]);
    expect(probe(vm, [`big-pairs:x-big=${1024 * 1024}`]).results).toEqual(["0"]);
  });
});

describe("stream control", () => {
  it("continue_stream of either direction drops the request side only", () => {
    const { vm } = startVm(PROBE_WASM);
    // In on_request_headers: after continue_stream(response) the request map is gone.
    expect(probe(vm, ["continue:1", "set:x-a=1"]).results).toEqual(["0", RESULT(WasmResult.BadArgument)]);
    // In on_response_headers: after continue_stream(response) the response map stays writable
    // (the probe then adds its results to it).
    const { s } = probe(vm, [], [["x-probe-encode", "continue:1"]]);
    expect(s.responseHeaders.getAll("x-probe-result")).toEqual(["0"]);
  });

  it("sends a local reply from an encoder callback directly, without entering the filter again", () => {
    const { vm } = startVm(PROBE_WASM, { pluginConfig: config({ responseHeader: ["x-configured", "yes"] }) });
    const s = vm.createStream();
    s.sendRequestHeaders([[":path", "/"], ["x-probe-encode", "reply:403=denied"]], true);
    const r = s.sendResponseHeaders([[":status", "200"]], true);
    expect(r.status).toBe(HeadersStatus.StopAllIterationAndWatermark);
    expect(r.localReply).toMatchObject({ status: 403, details: "probe_reply" });
    expect(r.localReply!.headers.get("x-probe-reply")).toBe("yes");
    expect(r.localReply!.headers.has("x-configured")).toBe(false);
    expect(vm.metrics.value("probe.response_headers_calls", MetricType.Counter)).toBe(1n);
  });

  it("converts what callbacks return as cpp-host does: headers StopIteration stops all, trailers cap at StopIteration", () => {
    const { vm } = startVm(PROBE_WASM);
    expect(probe(vm, ["stop:1"]).req.status).toBe(HeadersStatus.StopAllIterationAndWatermark);
    expect(probe(vm, ["stop:9"]).req.status).toBe(HeadersStatus.StopAllIterationAndWatermark);
    const trailers = (action: string) => {
      const s = vm.createStream();
      s.sendRequestHeaders([[":path", "/"], ["x-probe-trailers", action]], false);
      return s.sendRequestTrailers([["x-t", "1"]]);
    };
    expect(trailers("status:7").status).toBe(TrailersStatus.StopIteration);
    // A local reply from a trailers callback forces StopIteration, not a headers status.
    const replied = trailers("reply:401=no");
    expect(replied.localReply?.status).toBe(401);
    expect(replied.status).toBe(TrailersStatus.StopIteration);
  });
});

describe("properties", () => {
  it("keys set_property by the raw path, and never lets it shadow Envoy's own attributes", () => {
    const { vm } = startVm(PROBE_WASM);
    const { results } = probe(vm, ["set-prop:a.b=v", "property:a.b", "set-prop:k=v2", "property:k", "set-prop:request.path=evil", "property:request.path"],
      [], { request: { path: "/real" } });
    expect(results).toEqual(["0", "<missing>", "0", "v2", "0", "/real"]);
  });
});

describe("properties that are messages in Envoy (context.cc getProperty / serializeValue)", () => {
  const node = { xds: { node: { locality: { region: "r", zone: "z" }, metadata: { CLUSTER_ID: "c1", W: 2 } } } };
  const pairs = (entries: [string, Uint8Array][]) => Buffer.from(PluginVm.encodePairs(entries.map(([name, value]) => ({ name, value })))).toString("hex");

  it("serializes a message as protobuf bytes and a Struct as pairs", () => {
    const { vm } = startVm(PROBE_WASM, { properties: node });
    const { results } = probe(vm, ["property-hex:xds.node.locality", "property-hex:xds.node.metadata", "property-hex:xds.node.metadata.W"]);
    // Locality: region = field 1, zone = field 2 (envoy/config/core/v3/base.proto).
    expect(results[0]).toBe("hex:0a017212017a");
    expect(results[1]).toBe(`hex:${pairs([["CLUSTER_ID", Buffer.from("c1")], ["W", Buffer.from(new Float64Array([2]).buffer)]])}`);
    // A Struct number is a double, whatever its value.
    expect(results[2]).toBe(`hex:${Buffer.from(new Float64Array([2]).buffer).toString("hex")}`);
    // Node: metadata = field 3 (a Struct: map entries key 1 / Value 2, string_value 3,
    // number_value 2), locality = field 4. Map entries come in the order given; Envoy's protobuf
    // leaves map order unspecified.
    const struct = "0a12" + "0a0a" + Buffer.from("CLUSTER_ID").toString("hex") + "1204" + "1a026331" + "0a0e" + "0a0157" + "1209" + "110000000000000040";
    expect(probe(vm, ["property-hex:xds.node"]).results[0]).toBe(`hex:1a24${struct}22060a017212017a`);
  });

  it("reads a field the message leaves unset as its default, an unknown field or a missing key as NotFound", () => {
    const { vm } = startVm(PROBE_WASM, { properties: node });
    const { results } = probe(vm, [
      "property:xds.node.locality.sub_zone", "property:xds.node.id", "property-code:xds.node.no_such_field",
      "property-code:xds.node.metadata.MISSING", "property-code:request",
    ], [], { request: { path: "/" } });
    expect(results).toEqual(["", "", RESULT(WasmResult.NotFound), RESULT(WasmResult.NotFound), RESULT(WasmResult.SerializationFailure)]);
  });

  it("always has a node, empty when nothing is known about it", () => {
    const { vm } = startVm(PROBE_WASM);
    expect(probe(vm, ["property:xds.node.locality.zone", "property-code:xds.node.metadata.CLUSTER_ID"]).results).toEqual(["", RESULT(WasmResult.NotFound)]);
  });
});

describe("start-up (cpp-host WasmBase::startVm restricted callbacks)", () => {
  it("traps a host call other than proxy_log or WASI during _initialize", () => {
    const mod = testModule(
      (m) => importFn(m, "env", "proxy_get_current_time_nanoseconds", ["i32"], "i32"),
      (m) => m.drop(m.call("proxy_get_current_time_nanoseconds", [m.i32.const(0)], binaryen.i32)),
    );
    const vm = new PluginVm(mod, { logger: () => {} });
    expect(() => vm.start()).toThrow(WasmTrapError);
    expect(vm.failure?.message).toMatch(/restricted_callback: env\.proxy_get_current_time_nanoseconds/);
  });

  it("allows proxy_log and the listed WASI calls during _initialize", () => {
    const logs: string[] = [];
    const mod = testModule(
      (m) => {
        importFn(m, "env", "proxy_log", ["i32", "i32", "i32"], "i32");
        importFn(m, "wasi_snapshot_preview1", "random_get", ["i32", "i32"], "i32");
      },
      (m) => m.block(null, [
        m.drop(m.call("random_get", [m.i32.const(64), m.i32.const(8)], binaryen.i32)),
        m.drop(m.call("proxy_log", [m.i32.const(LogLevel.Info), m.i32.const(16), m.i32.const(5)], binaryen.i32)),
      ]),
      [{ at: 16, text: "hello" }],
    );
    new PluginVm(mod, { logger: (_l, msg) => logs.push(msg) }).start();
    expect(logs).toContain("hello");
  });
});

describe("WASI (cpp-host exports.cc wasi_unstable_*, the set Envoy pins)", () => {
  // Each export w_<name> makes one WASI call and returns its errno.
  const calls: [string, ("i32" | "i64")[], (m: binaryen.Module) => binaryen.ExpressionRef[], number][] = [
    ["fd_read", ["i32", "i32", "i32", "i32"], (m) => [0, 0, 0, 0].map((v) => m.i32.const(v)), 52],
    ["fd_seek", ["i32", "i64", "i32", "i32"], (m) => [m.i32.const(3), m.i64.const(0n as never), m.i32.const(0), m.i32.const(0)], 0],
    ["fd_close", ["i32"], (m) => [m.i32.const(3)], 0],
    ["fd_fdstat_get", ["i32", "i32"], (m) => [m.i32.const(1), m.i32.const(256)], 0],
    ["fd_fdstat_set_flags", ["i32", "i32"], (m) => [m.i32.const(1), m.i32.const(0)], 52],
    ["poll_oneoff", ["i32", "i32", "i32", "i32"], (m) => [0, 0, 1, 0].map((v) => m.i32.const(v)), 52],
    ["path_open", ["i32", "i32", "i32", "i32", "i32", "i64", "i64", "i32", "i32"], (m) => [
      m.i32.const(3), m.i32.const(0), m.i32.const(0), m.i32.const(0), m.i32.const(0), m.i64.const(0n as never), m.i64.const(0n as never), m.i32.const(0), m.i32.const(0)], 44],
    ["fd_prestat_get", ["i32", "i32"], (m) => [m.i32.const(3), m.i32.const(0)], 8],
    ["fd_prestat_dir_name", ["i32", "i32", "i32"], (m) => [m.i32.const(3), m.i32.const(0), m.i32.const(0)], 52],
    ["clock_time_get", ["i32", "i64", "i32"], (m) => [m.i32.const(2), m.i64.const(0n as never), m.i32.const(0)], 58],
    ["random_get", ["i32", "i32"], (m) => [m.i32.const(0), m.i32.const(64 * 1024 + 1)], 28],
    ["environ_sizes_get", ["i32", "i32"], (m) => [m.i32.const(70000), m.i32.const(0)], 21],
    ["sched_yield", [], () => [], 0],
  ];
  const mod = testModule((m) => {
    for (const [name, params, args] of calls) {
      importFn(m, "wasi_snapshot_preview1", name, params, "i32");
      m.addFunction(`w_${name}`, binaryen.none, binaryen.i32, [], m.call(name, args(m), binaryen.i32));
      m.addFunctionExport(`w_${name}`, `w_${name}`);
    }
    // fd_fdstat_get's fs_rights_base (second u64 of the 24 bytes) after w_fd_fdstat_get.
    m.addFunction("rights", binaryen.none, binaryen.i32, [], m.i32.wrap(m.i64.load(8, 8, m.i32.const(256))));
    m.addFunctionExport("rights", "rights");
  });

  it.each(calls.map(([name, , , errno]) => [name, errno]))("%s answers errno %d", (name, errno) => {
    const vm = new PluginVm(mod, { logger: () => {} }).start();
    expect(vm.call(`w_${name}`, 0)).toBe(errno);
    if (name === "fd_fdstat_get") expect(vm.call("rights", 0)).toBe(64); // __WASI_RIGHTS_FD_WRITE
  });

  it("refuses a WASI call cpp-host added after Envoy's pin, saying so", () => {
    const late = testModule((m) => importFn(m, "wasi_snapshot_preview1", "clock_res_get", ["i32", "i32"], "i32"));
    expect(() => new PluginVm(late).start()).toThrow(LinkError);
    expect(() => new PluginVm(late).start()).toThrow(/clock_res_get \(only in proxy-wasm-cpp-host 94091cd and later/);
  });
});

describe("ticks (envoy wasm.cc Wasm::setTimerPeriod / tickHandler)", () => {
  afterEach(() => vi.useRealTimers());

  it("starts the timer when the module asks for ticks after start-up, and re-arms it after each tick", () => {
    vi.useFakeTimers();
    const { vm } = startVm(PROBE_WASM); // no tickMs: no period at start-up
    vm.startTimers();
    expect(probe(vm, ["tick-period:100"]).results).toEqual(["0"]);
    vi.advanceTimersByTime(350);
    expect(vm.metrics.value("probe.ticks", MetricType.Counter)).toBe(3n);
    probe(vm, ["tick-period:0"]);
    vi.advanceTimersByTime(1000);
    expect(vm.metrics.value("probe.ticks", MetricType.Counter)).toBe(3n);
    vm.stopTimers();
  });
});

describe("shared data (cpp-host VmIdHandle, SharedData::deleteByVmId)", () => {
  it("drops a vm_id's data with the last VM holding that id, and only then", () => {
    const shared = new SharedData();
    const a = startVm(PROBE_WASM, { shared, vmId: "v" }).vm;
    const b = startVm(PROBE_WASM, { shared, vmId: "v" }).vm;
    const other = startVm(PROBE_WASM, { shared, vmId: "w" }).vm;
    probe(a, ["shared-inc:k"]);
    probe(other, ["shared-inc:k"]);
    a.shutdown();
    expect(probe(b, ["shared-get:k"]).results[0]).toMatch(/^1@/);
    b.shutdown();
    expect(shared.get("v", "k")).toBeUndefined();
    expect(shared.get("w", "k")).toBeDefined();
    // A new VM with the id starts from nothing.
    const c = startVm(PROBE_WASM, { shared, vmId: "v" }).vm;
    expect(probe(c, ["shared-get:k"]).results).toEqual(["<missing>"]);
  });
});

describe("logging (envoy context.cc Context::log, cpp-host ContextBase::log_prefix)", () => {
  it("prefixes root-context lines with root_id and vm_id, stream lines with the plugin name too", () => {
    const lines: { message: string; prefix?: string }[] = [];
    const vm = new PluginVm(compiled(PROBE_WASM), {
      pluginName: "probe-plugin", rootId: "probe-root", vmId: "probe-vm",
      logger: (_level, message, prefix) => lines.push({ message, prefix }),
    }).start();
    probe(vm, ["log:2=from a stream"]);
    expect(lines.find((l) => l.message === "probe: configured")?.prefix).toBe(" probe-root probe-vm");
    expect(lines.find((l) => l.message === "from a stream")?.prefix).toBe(" probe-plugin probe-root probe-vm");
  });
});
