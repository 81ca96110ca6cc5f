// The built modules would link in Envoy: every import is a host function Envoy's host provides
// with the identical signature, and every export Envoy looks up is there with the signature it
// calls. The reference list is test/data/envoy-host-abi.json, taken from proxy-wasm-cpp-host.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PluginVm } from "../extproc/host/index.js";
import { ADDED_AFTER_PIN, wasiFunctions } from "../extproc/host/calls/wasi.js";
import { FAILOVER_WASM, PROBE_WASM, Signature, compiled, root, signatures } from "./support/wasm.js";

interface Reference {
  source: string;
  extra: { wasi_added_after_pin: { functions: Record<string, Signature> } };
  imports: Record<string, Record<string, Signature>>;
  exports: {
    required: string[];
    required_one_of: string[][];
    callbacks: Record<string, Signature>;
    startup: { name: string; signature: Signature }[];
  };
}
const envoy: Reference = JSON.parse(readFileSync(join(root, "test", "data", "envoy-host-abi.json"), "utf8"));
// A 0.2.1 module must not rely on what only 0.1.0 registers.
const provided: Record<string, Record<string, Signature>> = {
  env: envoy.imports.env,
  wasi_snapshot_preview1: envoy.imports.wasi_snapshot_preview1,
};

describe.each([["failover", FAILOVER_WASM], ["probe fixture", PROBE_WASM]])("link check: %s module", (_name, path) => {
  const { imports, exports } = signatures(path);

  it("names its reference source", () => {
    expect(envoy.source).toMatch(/proxy-wasm-cpp-host @ [0-9a-f]{7,}/);
  });

  it("imports only host functions Envoy provides, with identical signatures", () => {
    expect(imports.length).toBeGreaterThan(0);
    for (const imp of imports) {
      const ref = provided[imp.module]?.[imp.name];
      expect(ref, `${imp.module}.${imp.name} is not provided by Envoy's host`).toBeDefined();
      expect(imp.sig, `${imp.module}.${imp.name} signature`).toEqual({ params: ref!.params, results: ref!.results });
    }
  });

  it("does not import env.abort, env.trace or env.seed (Envoy has none)", () => {
    const names = imports.map((i) => `${i.module}.${i.name}`);
    expect(names).not.toContain("env.abort");
    expect(names).not.toContain("env.trace");
    expect(names).not.toContain("env.seed");
  });

  it("exports the ABI marker, memory and an allocator", () => {
    for (const name of envoy.exports.required) expect(exports.has(name), name).toBe(true);
    expect(exports.get("memory")?.kind).toBe("memory");
    for (const group of envoy.exports.required_one_of) {
      const present = group.filter((n) => exports.has(n));
      expect(present.length, `one of ${group.join(", ")}`).toBeGreaterThan(0);
      for (const n of present) expect(exports.get(n)?.sig).toEqual({ params: ["i32"], results: ["i32"] });
    }
  });

  it("exports every callback the filter needs, each with the signature Envoy calls", () => {
    const needed = [
      "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure", "proxy_on_tick",
      "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
      "proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
      "proxy_on_log", "proxy_on_done", "proxy_on_delete", "proxy_on_http_call_response",
    ];
    for (const name of needed) {
      const ref = envoy.exports.callbacks[name];
      expect(ref, `${name} in the reference`).toBeDefined();
      expect(exports.get(name)?.sig, name).toEqual({ params: ref.params, results: ref.results });
    }
    // Any other proxy_on_* export must also match what Envoy expects, or Envoy refuses the module.
    for (const [name, e] of exports) {
      if (!name.startsWith("proxy_on_")) continue;
      const ref = envoy.exports.callbacks[name];
      expect(ref, `${name} is not a callback Envoy knows`).toBeDefined();
      expect(e.sig).toEqual({ params: ref.params, results: ref.results });
    }
  });

  it("exports a start function Envoy calls", () => {
    const start = envoy.exports.startup.find((s) => exports.has(s.name));
    expect(start, "one of _initialize / _start").toBeDefined();
    expect(exports.get(start!.name)?.sig).toEqual({ params: start!.signature.params, results: start!.signature.results });
  });
});

describe("link check: the host's env functions", () => {
  it("provides every env function Envoy's host registers, and no other", () => {
    const vm = new PluginVm(compiled(PROBE_WASM));
    const env = (vm as unknown as { hostFunctions(): { env: Record<string, unknown> } }).hostFunctions().env;
    expect(Object.keys(env).sort()).toEqual(Object.keys(envoy.imports.env).sort());
  });
});

describe("link check: the host's WASI set", () => {
  it("provides exactly the WASI functions cpp-host registers at Envoy's pin, none added after it", () => {
    const host = wasiFunctions({ read: () => undefined, writeU32: () => false, writeU64: () => false, log: () => {}, realtime: () => 0n, monotonic: () => 0n });
    expect(Object.keys(host).sort()).toEqual(Object.keys(envoy.imports.wasi_snapshot_preview1).sort());
    expect([...ADDED_AFTER_PIN].sort()).toEqual(Object.keys(envoy.extra.wasi_added_after_pin.functions).sort());
    for (const name of ADDED_AFTER_PIN) expect(host).not.toHaveProperty(name);
  });
});
