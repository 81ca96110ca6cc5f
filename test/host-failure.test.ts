// What a trap costs, in-proxy (Envoy's model, the host) and in the sidecar (fail-reload by
// default). Sources: proxy-wasm-cpp-host src/context.cc CHECK_FAIL @ beb8a4ece; Envoy's
// PluginConfig (createContext, maybeReloadHandleIfNeeded, the fail_open / failure_policy check)
// in source/extensions/common/wasm/wasm.cc, Envoy 1.36 (read in higress-group/envoy's 1.36.4
// port, the upstream code paths). Details: test/data/ENVOY-HOST-NOTES.md §11.
import { describe, expect, it } from "vitest";
import {
  ConfigurationError, HeadersStatus, type PluginVmOptions, SharedData, WasmPlugin, WasmTrapError,
} from "../extproc/host/index.js";
import { memoryLogger } from "../extproc/sidecar/logger.js";
import { FilterPool } from "../extproc/sidecar/filter-pool.js";
import { probe } from "./support/probe.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { PROBE_WASM, compiled, startVm } from "./support/wasm.js";

/** A stream that got through its request headers (the filter let them go) and is waiting for the response. */
function openStream(vm: Parameters<typeof probe>[0]) {
  const s = vm.createStream();
  expect(s.sendRequestHeaders([[":path", "/open"]], true).status).toBe(HeadersStatus.Continue);
  return s;
}
const logLines = (logs: { message: string }[]) => logs.filter((l) => l.message.startsWith("probe log:"));

describe("a trap under the legacy fail_open (cpp-host CHECK_FAIL open result)", () => {
  it("lets the trapping stream continue with no reply, and every stream open on that VM after it", () => {
    const { vm, logs } = startVm(PROBE_WASM, { failOpen: true });
    const open = openStream(vm);
    const { req } = probe(vm, ["set:x-before=1", "trap"]);
    expect(req.failure).toBeInstanceOf(WasmTrapError);
    expect(req.localReply).toBeUndefined();
    expect(req.status).toBe(HeadersStatus.Continue);
    // The stream that was already open: Continue, untouched, and no on_log / on_done.
    const r = open.sendResponseHeaders([[":status", "200"]], true);
    expect(r.localReply).toBeUndefined();
    expect(r.status).toBe(HeadersStatus.Continue);
    expect(open.responseHeaders.has("x-probe-result")).toBe(false);
    open.end({ response: { code: 200 } });
    expect(logLines(logs)).toEqual([]);
    // A new stream gets no filter at all.
    const { s, req: later } = probe(vm, ["set:x-a=1"]);
    expect(later.localReply).toBeUndefined();
    expect(s.requestHeaders.has("x-a")).toBe(false);
  });
});

describe("a trap failing closed (the default)", () => {
  it("answers the trapping stream and each stream open on the VM with one 503 wasm_fail_stream", () => {
    const { vm } = startVm(PROBE_WASM);
    const open = openStream(vm);
    const { req } = probe(vm, ["trap"]);
    expect(req.localReply).toMatchObject({ status: 503, details: "wasm_fail_stream", grpcStatus: 14 });
    const r = open.sendResponseHeaders([[":status", "200"]], true);
    expect(r.localReply).toMatchObject({ status: 503, details: "wasm_fail_stream" });
    expect(r.status).toBe(HeadersStatus.StopAllIterationAndWatermark);
    expect(probe(vm, []).req.localReply?.status).toBe(503);
  });
});

describe("failure_policy (Envoy >= 1.33)", () => {
  it("refuses fail_open together with failure_policy, as Envoy's PluginConfig does", () => {
    expect(() => startVm(PROBE_WASM, { failOpen: true, failurePolicy: "fail-closed" })).toThrow(ConfigurationError);
    expect(() => startVm(PROBE_WASM, { failOpen: true, failurePolicy: "fail-open" })).toThrow(/only one of fail_open or failure_policy can be set/);
    expect(() => startVm(PROBE_WASM, { failurePolicy: "fail-sideways" as never })).toThrow(/unknown failure policy "fail-sideways"/);
  });

  it("FAIL_OPEN: open streams still get the 503 (CHECK_FAIL reads the legacy flag), new streams no filter", () => {
    const { vm } = startVm(PROBE_WASM, { failurePolicy: "fail-open" });
    const open = openStream(vm);
    expect(probe(vm, ["trap"]).req.localReply?.status).toBe(503);
    expect(open.sendResponseHeaders([[":status", "200"]], true).localReply?.status).toBe(503);
    const { s, req } = probe(vm, ["set:x-a=1"]);
    expect(req.localReply).toBeUndefined();
    expect(s.requestHeaders.has("x-a")).toBe(false);
  });

  it("FAIL_RELOAD: the trapping stream gets the 503; new streams fail closed until the backoff ends, then get a new VM", () => {
    let now = 0;
    const shared = new SharedData();
    const options: PluginVmOptions = { failurePolicy: "fail-reload", shared, vmId: "v", logger: () => {} };
    const plugin = new WasmPlugin(compiled(PROBE_WASM), { ...options, reloadBaseIntervalMs: 1000, monotonicMs: () => now, random: () => 0 });
    const first = plugin.vm;
    const run = (actions: string[]) => {
      const s = plugin.newStream();
      const r = s.sendRequestHeaders([[":path", "/"], ...actions.map((a) => ["x-probe", a] as [string, string])], true);
      if (!r.localReply) s.sendResponseHeaders([[":status", "200"]], true);
      return { s, r };
    };
    run(["shared-inc:health"]);
    expect(run(["trap"]).r.localReply).toMatchObject({ status: 503, details: "wasm_fail_stream" });
    now = 999; // the wait is random(base, 1.5 base): with random 0, exactly 1000 ms after the load
    expect(run([]).r.localReply?.status).toBe(503);
    expect(plugin.reloads).toEqual({ success: 0, failure: 0, backoff: 1 });
    now = 1000;
    const { s } = run(["shared-get:health"]);
    expect(plugin.vm).not.toBe(first);
    expect(plugin.reloads.success).toBe(1);
    // The new VM answers, and the health state (shared data of the vm_id) survived the rebuild.
    expect(s.responseHeaders.getAll("x-probe-result")[0]).toMatch(/^1@/);
  });
});

describe("the sidecar's filter pool (FilterPool)", () => {
  const pool = (options: Partial<ConstructorParameters<typeof FilterPool>[0]> = {}) => {
    const logger = memoryLogger();
    const reloads: string[] = [];
    const p = new FilterPool({
      module: compiled(PROBE_WASM), logger, locality: { region: "r", zone: "z", subzone: "", cluster: "" }, timers: false,
      onVmReload: (result) => reloads.push(result), ...options,
    });
    p.configure("{}");
    return { p, logger, reloads };
  };

  it("fail-reload (default): the trapping stream passes untouched, the next one gets a rebuilt VM with the health state kept", () => {
    let now = 0;
    const { p, logger, reloads } = pool({ monotonicMs: () => now });
    expect(p.failurePolicy).toBe("fail-reload");
    probe(p.vmFor(undefined), ["shared-inc:health"]);
    const open = openStream(p.vmFor(undefined));
    const { req, s } = probe(p.vmFor(undefined), ["set:x-a=1", "trap"]);
    expect(req.failure).toBeInstanceOf(WasmTrapError);
    // Still ready: the next request heals it (an unready sidecar would get none).
    expect(p.failure).toBeUndefined();
    expect(req.localReply).toBeUndefined();
    expect(s.requestHeaders.has("x-a")).toBe(true); // what the module did before trapping stays, as in Envoy
    expect(open.sendResponseHeaders([[":status", "200"]], true).localReply).toBeUndefined();
    const after = probe(p.vmFor(undefined), ["shared-get:health"]);
    expect(after.results[0]).toMatch(/^1@/);
    expect(reloads).toEqual(["ok"]);
    expect(logger.lines.some((l) => l.level === "warn" && l.msg.includes("rebuilt") && String(l.fields?.trap).includes("probe asked to trap"))).toBe(true);
    expect(p.failure).toBeUndefined();
    // A second trap within the backoff: streams pass untouched until it ends.
    probe(p.vmFor(undefined), ["trap"]);
    now = 500;
    const waiting = probe(p.vmFor(undefined), ["set:x-a=1"]);
    expect(waiting.req.localReply).toBeUndefined();
    expect(waiting.s.requestHeaders.has("x-a")).toBe(false);
    expect(reloads).toEqual(["ok"]);
    now = 1500;
    expect(probe(p.vmFor(undefined), ["set:x-a=1"]).s.requestHeaders.has("x-a")).toBe(true);
    expect(reloads).toEqual(["ok", "ok"]);
  });

  it("fail-closed: a trap answers 503 from then on, and nothing is rebuilt", () => {
    const { p, reloads } = pool({ failurePolicy: "fail-closed" });
    expect(probe(p.vmFor(undefined), ["trap"]).req.localReply?.status).toBe(503);
    expect(p.failure).toBeInstanceOf(WasmTrapError); // not ready until the policy is reloaded
    expect(probe(p.vmFor(undefined), []).req.localReply?.status).toBe(503);
    expect(reloads).toEqual([]);
  });

  it("fail-open: streams pass untouched from the trap on, nothing is rebuilt", () => {
    const { p, reloads } = pool({ failurePolicy: "fail-open" });
    expect(probe(p.vmFor(undefined), ["trap"]).req.localReply).toBeUndefined();
    const { s, req } = probe(p.vmFor(undefined), ["set:x-a=1"]);
    expect(req.localReply).toBeUndefined();
    expect(s.requestHeaders.has("x-a")).toBe(false);
    expect(reloads).toEqual([]);
  });
});

describe("the sidecar over gRPC", () => {
  const start = sidecarHarness({ modulePath: PROBE_WASM, policy: "{}" });
  const request: [string, string][] = [[":method", "GET"], [":path", "/"], [":authority", "example.com"]];
  const ok: [string, string][] = [[":status", "200"]];

  it("passes the trapping request through, rebuilds the VM, counts and logs it", async () => {
    const { client, sidecar, logger } = await start();
    const c = client();
    const trapped = await c.exchange([...request, ["x-probe", "trap"]], ok);
    expect(trapped.req.immediate_response).toBeUndefined();
    expect(trapped.req.request_headers).toBeDefined();
    expect(trapped.upstreamRequest).toEqual([...request, ["x-probe", "trap"]]);
    const next = await c.exchange([...request, ["x-probe", "set:x-a=1"]], ok);
    expect(next.upstreamRequest).toContainEqual(["x-a", "1"]);
    expect(await sidecar.metrics.registry.getSingleMetricAsString("failover_sidecar_vm_reloads_total")).toContain('failover_sidecar_vm_reloads_total{result="ok"} 1');
    expect(logger.lines.some((l) => l.level === "warn" && l.msg.includes("rebuilt"))).toBe(true);
  });

  it("answers 503 wasm_fail_stream from then on with failurePolicy fail-closed", async () => {
    const { client } = await start({ failurePolicy: "fail-closed" });
    const c = client();
    for (const actions of [["trap"], ["set:x-a=1"]]) {
      const { req } = await c.exchange([...request, ...actions.map((a) => ["x-probe", a] as [string, string])], ok);
      expect(req.immediate_response?.details).toBe("wasm_fail_stream");
    }
  });
});
