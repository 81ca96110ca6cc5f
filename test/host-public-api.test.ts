// The host as a user of the package meets it: everything comes from the public entry
// `envoy-failover/host` (package.json "exports", the compiled dist/ file), nothing from the
// project's sources. extproc/host/README.md shows this file's test as its example, verbatim
// (test/host-readme.test.ts holds them equal).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HeadersStatus, LogLevel, MapType, PluginVm, loadModule } from "envoy-failover/host";

describe("a proxy-wasm module in the host, through the public API", () => {
  it("configures, changes request headers, answers locally, logs and counts", async () => {
    // Any proxy-wasm module (ABI 0.2.x); here the project's probe fixture, whose `x-probe`
    // request headers name what it does.
    const module = await loadModule(join(import.meta.dirname, "..", "build", "probe.wasm"));
    const logs: string[] = [];
    const vm = new PluginVm(module, {
      pluginConfig: JSON.stringify({ responseHeader: ["x-configured", "yes"] }),
      logger: (level, message) => { if (level >= LogLevel.Info) logs.push(message); },
    }).start(); // _initialize, root context, on_vm_start, on_configure
    expect(logs).toContain("probe: configured");

    // One request, in Envoy's order: request headers, response headers, then the access log.
    const stream = vm.createStream({ source: { address: "203.0.113.7:40000" } });
    const request = stream.sendRequestHeaders([
      [":method", "GET"], [":path", "/"], [":authority", "example.com"], [":scheme", "http"],
      ["x-remove-me", "1"], ["x-probe", "set:x-chosen=blue"], ["x-probe", "remove:x-remove-me"],
    ], true);
    expect(request.status).toBe(HeadersStatus.Continue);
    // What the callback changed, by name, with the values now (none: removed).
    const changed = request.mutations.headers.get(MapType.HttpRequestHeaders) ?? [];
    expect(changed.map((c) => [c.name, c.values.map((v) => Buffer.from(v).toString())])).toEqual([
      ["x-chosen", ["blue"]], ["x-remove-me", []],
    ]);
    expect(request.mutations.routeCacheCleared).toBe(true); // Envoy re-picks the route
    expect(stream.requestHeaders.get("x-chosen")).toBe("blue");

    stream.sendResponseHeaders([[":status", "200"]], true);
    expect(stream.responseHeaders.get("x-configured")).toBe("yes");
    stream.end({ response: { code: 200 } }); // on_log (with response.code), on_done, on_delete
    expect(logs).toContain("probe log: code=200 flags=-1");
    expect(vm.metrics.value("probe.response_headers_calls")).toBe(1n);

    // A module that answers the request itself: the local reply, as Envoy would send it.
    const denied = vm.createStream().sendRequestHeaders([[":path", "/"], ["x-probe", "reply:403=go away"]], true);
    expect(denied.localReply).toMatchObject({ status: 403, details: "probe_reply" });
    expect(denied.localReply?.headers.get("x-probe-reply")).toBe("yes");
    expect(Buffer.from(denied.localReply!.body).toString()).toBe("go away");

    vm.shutdown(); // on_done and on_delete of the root context
  });
});
