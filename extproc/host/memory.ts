// The module's linear memory as host calls see it: bounds-checked reads and writes, and handing
// data to the module in memory it allocates itself (malloc or proxy_on_memory_allocate), as
// proxy-wasm's "return a buffer" convention asks.

import { WasmResult } from "./abi.js";
import { type PairSource, pairsSize, writePairs } from "./pairs.js";
import { utf8Length, writeUtf8 } from "./text.js";

const TEXT_SLOTS = 256; // a power of two
const TEXT_MAX = 128; // longer texts are decoded each time

type Alloc = (size: number) => number | bigint | undefined;

export class GuestMemory {
  private bytes: Buffer = Buffer.alloc(0);
  private plain = new Uint8Array(0);
  private view = new DataView(new ArrayBuffer(0));

  /** Texts decoded lately, by a hash of their bytes (readString). */
  private readonly texts: (string | undefined)[] = new Array<string | undefined>(TEXT_SLOTS).fill(undefined);

  constructor(private readonly memory: WebAssembly.Memory, private readonly alloc: Alloc) {}

  /** A view of linear memory; a grown memory detaches the old buffer (length 0), and we re-view. */
  private mem(): Buffer {
    if (this.bytes.length === 0) {
      const buf = this.memory.buffer;
      this.bytes = Buffer.from(buf);
      this.plain = new Uint8Array(buf);
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
    // A plain Uint8Array (a Buffer subarray is a subclass instance, slower to make and to copy).
    return this.inBounds(ptr, size) ? this.plain.subarray(ptr, ptr + size) : undefined;
  }

  /**
   * Guest bytes decoded as UTF-8. Modules pass the same few names (header names, property paths,
   * shared-data keys) again and again, often from fresh buffers: a small table keyed by the
   * bytes themselves (length, first and last byte) keeps the last ASCII text of each slot, and
   * serves it again when the bytes spell it, without a call into Node's decoder.
   */
  readString(ptr: number, size: number): string | undefined {
    if (!this.inBounds(ptr, size)) return undefined;
    const bytes = this.bytes;
    if (size === 0 || size > TEXT_MAX) return bytes.toString("utf8", ptr, ptr + size);
    const slot = (size * 7 + bytes[ptr] * 3 + bytes[ptr + size - 1]) & (TEXT_SLOTS - 1);
    const seen = this.texts[slot];
    if (seen !== undefined && seen.length === size && sameText(bytes, ptr, seen)) return seen;
    const s = bytes.toString("utf8", ptr, ptr + size);
    // Only a text of one byte per character (ASCII) can be checked against the bytes like that.
    if (s.length === size) this.texts[slot] = s;
    return s;
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

  /** A copy of guest bytes (the module may overwrite its memory once it runs again). */
  copy(ptr: number, size: number): Uint8Array | undefined {
    if (!this.inBounds(ptr, size)) return undefined;
    const out = Buffer.allocUnsafe(size); // small sizes come from Node's shared pool
    this.bytes.copy(out, 0, ptr, ptr + size);
    return out;
  }

  /**
   * A value the module hands over (a header value): a short ASCII value as a string (readString
   * serves repeated ones without allocating; its UTF-8 bytes are exactly the guest's), anything
   * else as a copy of the bytes.
   */
  readValue(ptr: number, size: number): string | Uint8Array | undefined {
    if (!this.inBounds(ptr, size)) return undefined;
    if (size > TEXT_MAX) return this.copy(ptr, size);
    const bytes = this.bytes;
    for (let i = ptr; i < ptr + size; i++) if (bytes[i] > 0x7f) return this.copy(ptr, size);
    return this.readString(ptr, size);
  }

  /** Copies `data` into memory the module allocates and writes (pointer, size) to the slots. */
  give(data: Uint8Array, ptrSlot: number, sizeSlot: number): WasmResult {
    const p = this.reserve(data.length, ptrSlot, sizeSlot);
    if (p > 0) this.bytes.set(data, p);
    return p < 0 ? WasmResult.InvalidMemoryAccess : WasmResult.Ok;
  }

  /** give() for a value that may be a string: its UTF-8 bytes, written without an intermediate Buffer. */
  giveValue(value: string | Uint8Array, ptrSlot: number, sizeSlot: number): WasmResult {
    if (typeof value !== "string") return this.give(value, ptrSlot, sizeSlot);
    const length = utf8Length(value);
    const p = this.reserve(length, ptrSlot, sizeSlot);
    if (p > 0) writeUtf8(this.bytes, p, value, length);
    return p < 0 ? WasmResult.InvalidMemoryAccess : WasmResult.Ok;
  }

  /** give() for entries serialized in the pairs format, written straight into the module's memory. */
  givePairs(entries: readonly PairSource[], ptrSlot: number, sizeSlot: number): WasmResult {
    const p = this.reserve(entries.length ? pairsSize(entries) : 0, ptrSlot, sizeSlot);
    if (p > 0) writePairs(entries, this.bytes, p);
    return p < 0 ? WasmResult.InvalidMemoryAccess : WasmResult.Ok;
  }

  /**
   * Memory for `size` bytes from the module's allocator, its (pointer, size) written to the
   * slots: the pointer (0 for no bytes: nothing allocated), or -1 when the module or a slot failed.
   */
  private reserve(size: number, ptrSlot: number, sizeSlot: number): number {
    if (size === 0) return this.writeU32(ptrSlot, 0) && this.writeU32(sizeSlot, 0) ? 0 : -1;
    const p = Number(this.alloc(size)) >>> 0;
    // The allocator may grow the memory: inBounds re-views it.
    if (p === 0 || !this.inBounds(p, size)) return -1;
    return this.writeU32(ptrSlot, p) && this.writeU32(sizeSlot, size) ? p : -1;
  }
}

/** The bytes at `at` are the char codes of `s` (an ASCII text: one byte per character). */
function sameText(bytes: Uint8Array, at: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (bytes[at + i] !== s.charCodeAt(i)) return false;
  return true;
}
