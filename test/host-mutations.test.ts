// The host's record of what a callback changed (CallbackResult.mutations), which the sidecar
// turns into its ext_proc answers: net header changes by name, the route-cache clear, rewritten
// bodies, the local reply. Through the real probe module, and a hand-built one for bodies (no
// real module rewrites a body).
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { BufferType, type HeaderChange, HeaderMap, MapType, NO_MUTATIONS, PluginVm } from "../extproc/host/index.js";
import { HeaderEditor } from "../extproc/host/mutations.js";
import { probe } from "./support/probe.js";
import { PROBE_WASM, startVm } from "./support/wasm.js";
import { importFn, testModule } from "./support/wasm-modules.js";

const text = (changes: readonly HeaderChange[] | undefined) =>
  (changes ?? []).map((c) => [c.name, c.values.map((v) => Buffer.from(v).toString())]);

describe("the mutation record", () => {
  it("reports each changed name once with its values now, and removals; unchanged writes are not changes", () => {
    const { vm } = startVm(PROBE_WASM);
    const { req } = probe(vm, ["set:x-rep=only", "add:x-new=1", "add:x-new=2", "remove:x-gone", "remove:x-absent", "set:x-same=v"],
      [["x-rep", "a"], ["x-rep", "b"], ["x-gone", "bye"], ["x-same", "v"]]);
    expect(text(req.mutations.headers.get(MapType.HttpRequestHeaders))).toEqual([
      ["x-rep", ["only"]], ["x-new", ["1", "2"]], ["x-gone", []],
    ]);
    expect(req.mutations.routeCacheCleared).toBe(true);
    expect(req.mutations.headers.has(MapType.HttpResponseHeaders)).toBe(false);
  });

  it("a write that changes nothing still clears the route cache (Envoy clears it on any write), with no header change", () => {
    const { vm } = startVm(PROBE_WASM);
    const { req } = probe(vm, ["remove:x-absent"]);
    expect(req.mutations.routeCacheCleared).toBe(true);
    expect(req.mutations.headers.size).toBe(0);
  });

  it("a callback that only reads changes nothing; the response callback's additions are its own", () => {
    const { vm } = startVm(PROBE_WASM);
    const { req, resp } = probe(vm, ["get:x-a"]);
    expect(req.mutations).toBe(NO_MUTATIONS);
    expect(text(resp!.mutations.headers.get(MapType.HttpResponseHeaders))).toEqual([["x-probe-result", ["<missing>"]]]);
    expect(resp!.mutations.routeCacheCleared).toBe(false);
  });

  it("a whole-map replacement reports every name that differs", () => {
    const { vm } = startVm(PROBE_WASM);
    const { req } = probe(vm, ["replace-all:x-solo=1"], [["x-other", "z"]]);
    expect(text(req.mutations.headers.get(MapType.HttpRequestHeaders))).toEqual([
      ["x-solo", ["1"]], ["x-other", []], ["x-probe", []],
    ]);
  });

  it("carries the local reply", () => {
    const { vm } = startVm(PROBE_WASM);
    const { req } = probe(vm, ["reply:418=teapot"]);
    expect(req.mutations.localReply).toBe(req.localReply);
    expect(req.mutations.localReply).toMatchObject({ status: 418, details: "probe_reply" });
  });

  it("reports a rewritten body with its content", () => {
    // on_request_body replaces the whole buffer with "NEW" (proxy_set_buffer_bytes).
    const module = testModule((m) => {
      importFn(m, "env", "proxy_set_buffer_bytes", ["i32", "i32", "i32", "i32", "i32"], "i32");
      const i32 = binaryen.i32;
      m.addFunction("proxy_on_request_body", binaryen.createType([i32, i32, i32]), i32, [], m.block(null, [
        m.drop(m.call("proxy_set_buffer_bytes", [m.i32.const(BufferType.HttpRequestBody), m.i32.const(0), m.local.get(1, i32), m.i32.const(16), m.i32.const(3)], i32)),
        m.i32.const(0),
      ], i32));
      m.addFunctionExport("proxy_on_request_body", "proxy_on_request_body");
    }, undefined, [{ at: 16, text: "NEW" }]);
    const vm = new PluginVm(module).start();
    const s = vm.createStream();
    expect(s.sendRequestHeaders([[":path", "/"]]).mutations).toBe(NO_MUTATIONS);
    const r = s.sendRequestBody(Buffer.from("old body"), true);
    expect(Buffer.from(r.mutations.bodies.get(BufferType.HttpRequestBody)!).toString()).toBe("NEW");
    expect(r.mutations.bodies.has(BufferType.HttpResponseBody)).toBe(false);
    // Taken by the result: the next callback starts with no changes.
    s.sendResponseHeaders([[":status", "200"]]);
    expect(s.sendResponseBody(Buffer.from("x"), true).mutations).toBe(NO_MUTATIONS);
  });
});

describe("the mutation record against the map before and after", () => {
  // The editor answers from its own record of its writes when it can (only replaces and removes,
  // no pseudo-header, nobody else changed the map) and scans the map otherwise: both must give
  // what a comparison of the map before and after gives, for any sequence of writes.
  const NAMES = ["a", "b", "X-F", "x-f", ":path", ":q", "n1", "n2", "n3"];
  const VALUES: (string | Uint8Array)[] = ["1", "2", "v", "ü", "", Uint8Array.of(0xff, 1)];
  const hex = (v: Uint8Array) => Buffer.from(v).toString("hex");
  const valuesOf = (entries: readonly { name: string; value: Uint8Array }[], name: string) => entries.filter((e) => e.name === name).map((e) => hex(e.value));

  it("for 3,000 random sequences of replace, add, remove and an outside rewrite (a local reply's)", () => {
    let seed = 7;
    const pick = <T,>(list: readonly T[]): T => list[((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) % list.length];
    for (let run = 0; run < 3000; run++) {
      const map = new HeaderMap(Array.from({ length: pick([0, 1, 2, 4, 6]) }, () => [pick(NAMES), pick(VALUES)] as [string, string | Uint8Array]));
      const before = new Map<string, string[]>(); // a name's values before the editor's first write of it
      const editor = new HeaderEditor(map);
      const touched: string[] = [];
      const ops = pick([1, 2, 3, 5, 8]);
      for (let i = 0; i < ops; i++) {
        const op = pick(["set", "set", "remove", "remove", "add", "outside"] as const);
        const name = pick(NAMES);
        if (op === "outside") {
          map.clear();
          map.add(name, pick(VALUES));
          continue;
        }
        const key = name.toLowerCase();
        if (!touched.includes(key)) touched.push(key), before.set(key, valuesOf(map.entries, key));
        editor[op](name, pick(VALUES));
      }
      const after = map.entries.map((e) => ({ name: e.name, value: e.value }));
      const present = [...new Set(after.map((e) => e.name))].filter((n) => touched.includes(n));
      const expected = [
        ...present.filter((n) => JSON.stringify(before.get(n)) !== JSON.stringify(valuesOf(after, n))).map((n) => [n, valuesOf(after, n)]),
        ...touched.filter((n) => !present.includes(n) && before.get(n)!.length > 0).map((n) => [n, []]),
      ];
      expect(editor.changes().map((c) => [c.name, c.values.map(hex)])).toEqual(expected);
    }
  });
});
