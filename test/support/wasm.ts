// Test support: the built modules, VMs with captured logs, and a wasm signature reader.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import binaryen from "binaryen";
import { LogLevel, PluginVm, PluginVmOptions } from "../../extproc/host/index.js";

export const root = join(import.meta.dirname, "..", "..");
export const FAILOVER_WASM = join(root, "build", "failover.wasm");
export const PROBE_WASM = join(root, "build", "probe.wasm");

const modules = new Map<string, WebAssembly.Module>();
export function compiled(path: string): WebAssembly.Module {
  let m = modules.get(path);
  if (!m) modules.set(path, (m = new WebAssembly.Module(readFileSync(path))));
  return m;
}

export interface LogLine { level: LogLevel; message: string }

/** A started VM on `path` whose log lines are kept in `logs` instead of printed. */
export function startVm(path: string, options: PluginVmOptions = {}): { vm: PluginVm; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const vm = new PluginVm(compiled(path), { logger: (level, message) => logs.push({ level, message }), ...options });
  vm.start();
  return { vm, logs };
}

export type ValType = "i32" | "i64" | "f32" | "f64";
export interface Signature { params: ValType[]; results: ValType[] }

function valTypes(t: number): ValType[] {
  return binaryen.expandType(t).map((x) => {
    if (x === binaryen.i32) return "i32";
    if (x === binaryen.i64) return "i64";
    if (x === binaryen.f32) return "f32";
    if (x === binaryen.f64) return "f64";
    throw new Error(`unexpected wasm value type ${x}`);
  });
}

/** Imported and exported functions of a module with their wasm signatures, read from the binary. */
export function signatures(path: string) {
  const mod = binaryen.readBinary(readFileSync(path));
  try {
    const imports: { module: string; name: string; sig: Signature }[] = [];
    const functions = new Map<string, Signature>();
    for (let i = 0; i < mod.getNumFunctions(); i++) {
      const info = binaryen.getFunctionInfo(mod.getFunctionByIndex(i));
      const sig = { params: valTypes(info.params), results: valTypes(info.results) };
      functions.set(info.name, sig);
      if (info.module) imports.push({ module: info.module, name: info.base ?? "", sig });
    }
    const exports = new Map<string, { kind: "function" | "memory" | "other"; sig?: Signature }>();
    for (let i = 0; i < mod.getNumExports(); i++) {
      const e = binaryen.getExportInfo(mod.getExportByIndex(i));
      if (e.kind === binaryen.ExternalFunction) exports.set(e.name, { kind: "function", sig: functions.get(e.value) });
      else exports.set(e.name, { kind: e.kind === binaryen.ExternalMemory ? "memory" : "other" });
    }
    return { imports, exports };
  } finally {
    mod.dispose();
  }
}
