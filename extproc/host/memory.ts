// The module's linear memory as host calls see it: bounds-checked reads and writes, and handing
// data to the module in memory it allocates itself (malloc or proxy_on_memory_allocate), as
// proxy-wasm's "return a buffer" convention asks.

import { WasmResult } from "./abi.js";

type Alloc = (size: number) => number | bigint | undefined;

export class GuestMemory {
  private bytes: Buffer = Buffer.alloc(0);
  private view = new DataView(new ArrayBuffer(0));

  constructor(private readonly memory: WebAssembly.Memory, private readonly alloc: Alloc) {}

  /** A view of linear memory; a grown memory detaches the old buffer (length 0), and we re-view. */
  private mem(): Buffer {
    if (this.bytes.length === 0) {
      const buf = this.memory.buffer;
      this.bytes = Buffer.from(buf);
      this.view = new DataView(buf);
    }
    return this.bytes;
  }

  /** Pages of linear memory, for memory-growth checks. */
  get pages(): number {
    return this.memory.buffer.byteLength / 65536;
  }

  inBounds(ptr: number, size: number): boolean {
    return ptr >= 0 && size >= 0 && ptr + size <= this.mem().length;
  }

  /** A view (not a copy) of guest bytes: copy it before the module runs again. */
  read(ptr: number, size: number): Uint8Array | undefined {
    return this.inBounds(ptr, size) ? this.mem().subarray(ptr, ptr + size) : undefined;
  }

  readString(ptr: number, size: number): string | undefined {
    return this.inBounds(ptr, size) ? this.bytes.toString("utf8", ptr, ptr + size) : undefined;
  }

  writeU32(ptr: number, v: number): boolean {
    if (!this.inBounds(ptr, 4)) return false;
    this.view.setUint32(ptr, v >>> 0, true);
    return true;
  }

  writeU64(ptr: number, v: bigint): boolean {
    if (!this.inBounds(ptr, 8)) return false;
    this.view.setBigUint64(ptr, BigInt.asUintN(64, v), true);
    return true;
  }

  /** Copies `data` into memory the module allocates and writes (pointer, size) to the slots. */
  give(data: Uint8Array, ptrSlot: number, sizeSlot: number): WasmResult {
    if (data.length === 0) {
      return this.writeU32(ptrSlot, 0) && this.writeU32(sizeSlot, 0) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    }
    const p = Number(this.alloc(data.length)) >>> 0;
    if (p === 0 || !this.inBounds(p, data.length)) return WasmResult.InvalidMemoryAccess;
    this.mem().set(data, p);
    return this.writeU32(ptrSlot, p) && this.writeU32(sizeSlot, data.length) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
  }
}
