// proxy_get_property / proxy_set_property: a stream serves its own attributes, then the VM's,
// then filter state (stream.ts); outside a stream only the VM's properties exist.

import { LogLevel, WasmResult } from "../abi.js";
import { type PropertyTree, lookupProperty } from "../properties.js";
import { MEM, type HostContext, type HostFunctions } from "./context.js";

/** Property paths by their NUL-separated text: a module asks for the same few again and again. */
const paths = new Map<string, readonly string[]>();

function pathOf(raw: string): readonly string[] {
  let path = paths.get(raw);
  if (path) return path;
  let parts = raw.split("\0");
  if (parts.length > 1 && parts[parts.length - 1] === "") parts = parts.slice(0, -1);
  path = Object.freeze(parts);
  if (paths.size >= 1024) paths.clear();
  paths.set(raw, path);
  return path;
}

export function propertyCalls(h: HostContext, vmProperties: PropertyTree): HostFunctions {
  return {
    proxy_get_property(pPtr: number, pSize: number, retPtr: number, retSize: number): number {
      const raw = h.memory.readString(pPtr, pSize);
      if (raw === undefined) return MEM;
      const path = pathOf(raw);
      if (path.length === 0 || path[0] === "") return WasmResult.SerializationFailure;
      const s = h.stream();
      const found = s ? s.property(path) : lookupProperty(path, vmProperties);
      if (found.reason) h.log(LogLevel.Warn, `host: get_property: ${found.reason}`);
      if (found.result !== WasmResult.Ok) return found.result;
      return h.memory.giveValue(found.value!, retPtr, retSize);
    },
    proxy_set_property(pPtr: number, pSize: number, vPtr: number, vSize: number): number {
      const raw = h.memory.read(pPtr, pSize);
      const value = h.memory.read(vPtr, vSize);
      if (!raw || !value) return MEM;
      const s = h.stream();
      if (!s) return WasmResult.NotFound;
      // Envoy keys filter state by the raw path ("wasm." + every byte, NULs included).
      return s.setProperty(Buffer.from(raw).toString("latin1"), new Uint8Array(value));
    },
  };
}
