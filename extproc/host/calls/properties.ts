// proxy_get_property / proxy_set_property: a stream serves its own attributes, then the VM's,
// then filter state (stream.ts); outside a stream only the VM's properties exist.

import { LogLevel, WasmResult } from "../abi.js";
import { type PropertyTree, lookupProperty } from "../properties.js";
import { MEM, type HostContext, type HostFunctions } from "./context.js";

export function propertyCalls(h: HostContext, vmProperties: PropertyTree): HostFunctions {
  return {
    proxy_get_property(pPtr: number, pSize: number, retPtr: number, retSize: number): number {
      const raw = h.memory.read(pPtr, pSize);
      if (!raw) return MEM;
      let path = h.memory.readString(pPtr, pSize)!.split("\0");
      if (path.length > 1 && path[path.length - 1] === "") path = path.slice(0, -1);
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
