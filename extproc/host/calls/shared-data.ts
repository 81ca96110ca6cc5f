// proxy_get_shared_data / proxy_set_shared_data over the store of the VM's vm_id.

import { WasmResult } from "../abi.js";
import type { SharedData } from "../shared-data.js";
import { MEM, type HostContext, type HostFunctions } from "./context.js";

export function sharedDataCalls(h: HostContext, shared: SharedData, vmId: string): HostFunctions {
  return {
    proxy_get_shared_data(kPtr: number, kSize: number, retPtr: number, retSize: number, retCas: number): number {
      const key = h.memory.readString(kPtr, kSize);
      if (key === undefined) return MEM;
      const e = shared.get(vmId, key);
      if (!e) return WasmResult.NotFound;
      const r = h.memory.give(e.value, retPtr, retSize);
      if (r !== WasmResult.Ok) return r;
      return h.memory.writeU32(retCas, e.cas) ? WasmResult.Ok : MEM;
    },
    proxy_set_shared_data(kPtr: number, kSize: number, vPtr: number, vSize: number, cas: number): number {
      const key = h.memory.readString(kPtr, kSize);
      const value = h.memory.read(vPtr, vSize);
      if (key === undefined || !value) return MEM;
      return shared.set(vmId, key, value, cas >>> 0);
    },
  };
}
