// Header-map calls (proxy_*_header_map_*): which map a call may touch is the stream's rule
// (access.ts); writes go through the stream's recording editor, so the caller learns what changed.

import { MapType, WasmResult } from "../abi.js";
import { decodePairs } from "../pairs.js";
import { BAD, MEM, type HostContext, type HostFunctions } from "./context.js";

export function headerCalls(h: HostContext): HostFunctions {
  const validType = (type: number) => type <= MapType.HttpCallResponseTrailers;
  /** replace (set) or add one header value: the shared rules of both calls. */
  const writeHeader = (type: number, kPtr: number, kSize: number, vPtr: number, vSize: number, op: "set" | "add"): number => {
    if (!validType(type)) return BAD;
    const key = h.memory.readString(kPtr, kSize);
    const value = h.memory.readValue(vPtr, vSize);
    if (key === undefined || value === undefined) return MEM;
    const editor = h.stream()?.edit(type);
    if (!editor) return BAD;
    editor[op](key, value);
    return WasmResult.Ok;
  };
  return {
    proxy_get_header_map_pairs(type: number, retPtr: number, retSize: number): number {
      if (!validType(type)) return BAD;
      const m = h.stream()?.map(type, false);
      return h.memory.givePairs(m ? m.entries : [], retPtr, retSize);
    },
    proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
      if (!validType(type)) return BAD;
      const data = h.memory.read(ptr, size);
      if (!data) return MEM;
      const editor = h.stream()?.edit(type);
      if (!editor) return BAD;
      editor.replaceAll(decodePairs(data) ?? []);
      return WasmResult.Ok;
    },
    proxy_get_header_map_value(type: number, kPtr: number, kSize: number, retPtr: number, retSize: number): number {
      if (!validType(type)) return BAD;
      const key = h.memory.readString(kPtr, kSize);
      if (key === undefined) return MEM;
      const s = h.stream();
      const m = s?.map(type, false);
      // A map Envoy has no pointer to in the access-log phase reads as absent (ABI 0.2.x).
      if (!m) return s?.inLogPhase ? WasmResult.NotFound : BAD;
      const e = m.entry(key);
      if (e === undefined) return WasmResult.NotFound;
      return h.memory.giveValue(e.given, retPtr, retSize);
    },
    proxy_replace_header_map_value(type: number, kPtr: number, kSize: number, vPtr: number, vSize: number): number {
      return writeHeader(type, kPtr, kSize, vPtr, vSize, "set");
    },
    proxy_add_header_map_value(type: number, kPtr: number, kSize: number, vPtr: number, vSize: number): number {
      return writeHeader(type, kPtr, kSize, vPtr, vSize, "add");
    },
    proxy_remove_header_map_value(type: number, kPtr: number, kSize: number): number {
      if (!validType(type)) return BAD;
      const key = h.memory.readString(kPtr, kSize);
      if (key === undefined) return MEM;
      const editor = h.stream()?.edit(type);
      if (!editor) return BAD;
      editor.remove(key);
      return WasmResult.Ok;
    },
    proxy_get_header_map_size(type: number, retSize: number): number {
      if (!validType(type)) return BAD;
      const m = h.stream()?.map(type, true); // Envoy's getHeaderMapSize uses the mutable map: none in on_log
      if (!m) return BAD;
      // Envoy reports HeaderMap::byteSize(): the sum of name and value lengths.
      let n = 0;
      for (const e of m.entries) n += e.name.length + e.byteLength;
      return h.memory.writeU32(retSize, n) ? WasmResult.Ok : MEM;
    },
  };
}
