// Test support: small hand-assembled Wasm modules (binaryen), for host rules no real module
// exercises: calls during start-up, the WASI set, imports Envoy lacks.
import binaryen from "binaryen";

type Build = (m: binaryen.Module) => void;

/**
 * A module that starts in the host (memory, malloc, on_vm_start and on_configure saying yes)
 * plus whatever `build` adds. `_initialize`, when given, runs `initialize`'s body at start-up;
 * `data` is placed in memory.
 */
export function testModule(build: Build, initialize?: (m: binaryen.Module) => binaryen.ExpressionRef, data: { at: number; text: string }[] = []): WebAssembly.Module {
  const m = new binaryen.Module();
  try {
    m.setMemory(1, 1, "memory", data.map((d) => ({ offset: m.i32.const(d.at), data: new TextEncoder().encode(d.text), passive: false })));
    const i32 = binaryen.i32;
    m.addFunction("malloc", binaryen.createType([i32]), i32, [], m.i32.const(1024));
    m.addFunctionExport("malloc", "malloc");
    for (const name of ["proxy_on_vm_start", "proxy_on_configure"]) {
      m.addFunction(name, binaryen.createType([i32, i32]), i32, [], m.i32.const(1));
      m.addFunctionExport(name, name);
    }
    build(m);
    if (initialize) {
      m.addFunction("_initialize", binaryen.none, binaryen.none, [], initialize(m));
      m.addFunctionExport("_initialize", "_initialize");
    }
    if (!m.validate()) throw new Error("test module does not validate");
    return new WebAssembly.Module(m.emitBinary() as Uint8Array<ArrayBuffer>);
  } finally {
    m.dispose();
  }
}

const WASM_TYPES = { i32: binaryen.i32, i64: binaryen.i64 } as const;

/** Imports `module.name` with the given signature under the internal name `name`. */
export function importFn(m: binaryen.Module, module: string, name: string, params: ("i32" | "i64")[], result: "i32" | "none"): void {
  m.addFunctionImport(name, module, name, binaryen.createType(params.map((p) => WASM_TYPES[p])), result === "none" ? binaryen.none : binaryen.i32);
}
