// Typed wrappers over the raw host calls. Strings cross the boundary as UTF-8: keys and values
// are encoded into one reusable scratch area (no allocation per call), and what the host hands
// back lives in memory the host obtained through our `malloc` export; we decode it and free it.

import * as raw from "./imports";
import { decodePairs, encodePairs } from "./pairs";
import { BufferType, HeaderPair, LogLevel, MapType, MetricType, StreamType, WasmResult } from "./types";

// Return slots the host writes through (pointer, size, cas / id / value).
const RET_PTR: usize = memory.data(8, 8);
const RET_SIZE: usize = memory.data(8, 8);
const RET_EXTRA: usize = memory.data(8, 8);

let scratchPtr: usize = 0;
let scratchCap: usize = 0;

/** A scratch area of at least `size` bytes, reused across calls. */
function scratch(size: usize): usize {
  if (size > scratchCap) {
    if (scratchPtr != 0) heap.free(scratchPtr);
    scratchCap = max<usize>(size, max<usize>(scratchCap << 1, 1024));
    scratchPtr = heap.alloc(scratchCap);
  }
  return scratchPtr;
}

/** Worst-case UTF-8 size of a string (3 bytes per UTF-16 unit). */
// @ts-ignore: decorator
@inline function worst(s: string): usize { return <usize>s.length * 3; }

/** Encodes `s` at `at`; returns its byte length. */
// @ts-ignore: decorator
@inline function put(s: string, at: usize): usize {
  return String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, at);
}

// Lengths of the last encodeTwo: the first string starts at scratchPtr, the second right after.
let lenA: usize = 0;
let lenB: usize = 0;
function encodeTwo(a: string, b: string): usize {
  const base = scratch(worst(a) + worst(b));
  lenA = put(a, base);
  lenB = put(b, base + lenA);
  return base;
}

// Bytes that crossed to or from the host since the collector last ran: header values become
// garbage strings of twice their size, and a published plan leaves its pieces behind; so
// exports.ts also collects once enough went by (huge headers; a policy at its limits).
let taken: usize = 0;

/** True (and the count restarts) once the host handed us `limit` bytes since the last true. */
export function hostBytesExceeded(limit: usize): bool {
  if (taken < limit) return false;
  taken = 0;
  return true;
}

/** Decodes the host-returned (RET_PTR, RET_SIZE) block as a string and frees it. */
function takeString(): string {
  const ptr = load<usize>(RET_PTR);
  const size = load<usize>(RET_SIZE);
  if (ptr == 0) return "";
  taken += size;
  const s = String.UTF8.decodeUnsafe(ptr, size);
  heap.free(ptr);
  return s;
}

/** Copies the host-returned block into a new ArrayBuffer and frees it. */
function takeBytes(): ArrayBuffer {
  const ptr = load<usize>(RET_PTR);
  const size = load<usize>(RET_SIZE);
  const out = new ArrayBuffer(<i32>size);
  if (ptr != 0) {
    memory.copy(changetype<usize>(out), ptr, size);
    heap.free(ptr);
  }
  return out;
}

function clearRet(): void {
  store<usize>(RET_PTR, 0);
  store<usize>(RET_SIZE, 0);
}

// ---- logging, time, timers --------------------------------------------------------------

export function log(level: LogLevel, message: string): void {
  const base = scratch(worst(message));
  raw.proxy_log(level, base, put(message, base));
}
export function logDebug(message: string): void { log(LogLevel.Debug, message); }
export function logInfo(message: string): void { log(LogLevel.Info, message); }
export function logWarn(message: string): void { log(LogLevel.Warn, message); }
export function logError(message: string): void { log(LogLevel.Error, message); }

/** The host's current log level; callers skip building messages the host would drop. */
export function logLevel(): LogLevel {
  store<u32>(RET_EXTRA, 0);
  raw.proxy_get_log_level(RET_EXTRA);
  return <LogLevel>load<u32>(RET_EXTRA);
}

/** Wall-clock time in nanoseconds since the epoch, from the host. */
export function nowNanos(): u64 {
  store<u64>(RET_EXTRA, 0);
  raw.proxy_get_current_time_nanoseconds(RET_EXTRA);
  return load<u64>(RET_EXTRA);
}

export function setTickPeriod(ms: u32): WasmResult {
  return <WasmResult>raw.proxy_set_tick_period_milliseconds(ms);
}

// ---- buffers -----------------------------------------------------------------------------

/** Bytes [start, start+maxSize) of a buffer, or null when the host has none (NotFound/Empty). */
export function getBuffer(type: BufferType, start: u32 = 0, maxSize: u32 = u32.MAX_VALUE): ArrayBuffer | null {
  clearRet();
  const r = raw.proxy_get_buffer_bytes(type, start, maxSize, RET_PTR, RET_SIZE);
  if (r != WasmResult.Ok) return null;
  return takeBytes();
}

export function setBuffer(type: BufferType, start: u32, size: u32, data: ArrayBuffer): WasmResult {
  return <WasmResult>raw.proxy_set_buffer_bytes(type, start, size, changetype<usize>(data), <usize>data.byteLength);
}

// ---- header maps -------------------------------------------------------------------------

/** The value of header `name` (lower case), or null when the map has no such header. */
export function getHeader(map: MapType, name: string): string | null {
  const base = scratch(worst(name));
  clearRet();
  const r = raw.proxy_get_header_map_value(map, base, put(name, base), RET_PTR, RET_SIZE);
  if (r != WasmResult.Ok) return null;
  return takeString();
}

/** Replaces header `name` with value + tail + end (the parts are encoded, not joined). */
export function replaceHeader(map: MapType, name: string, value: string, tail: string = "", end: string = ""): WasmResult {
  const base = encodeHeader(name, value, tail, end);
  return <WasmResult>raw.proxy_replace_header_map_value(map, base, lenA, base + lenA, lenB);
}

/** Adds a value (value + tail + end) of header `name`. */
export function addHeader(map: MapType, name: string, value: string, tail: string = "", end: string = ""): WasmResult {
  const base = encodeHeader(name, value, tail, end);
  return <WasmResult>raw.proxy_add_header_map_value(map, base, lenA, base + lenA, lenB);
}

/** Encodes a header name (lenA bytes) and its value in three parts (lenB bytes) into scratch. */
function encodeHeader(name: string, value: string, tail: string, end: string): usize {
  const base = scratch(worst(name) + worst(value) + worst(tail) + worst(end));
  lenA = put(name, base);
  const v = base + lenA;
  lenB = put(value, v);
  lenB += put(tail, v + lenB);
  lenB += put(end, v + lenB);
  return base;
}

export function removeHeader(map: MapType, name: string): WasmResult {
  const base = scratch(worst(name));
  return <WasmResult>raw.proxy_remove_header_map_value(map, base, put(name, base));
}

/** Serialized byte size of a header map, as the host reports it. */
export function headerMapSize(map: MapType): u32 {
  store<u32>(RET_EXTRA, 0);
  raw.proxy_get_header_map_size(map, RET_EXTRA);
  return load<u32>(RET_EXTRA);
}

/** All entries of a header map, in order, repeated names kept. */
export function getHeaders(map: MapType): Array<HeaderPair> {
  clearRet();
  const r = raw.proxy_get_header_map_pairs(map, RET_PTR, RET_SIZE);
  const out = new Array<HeaderPair>();
  const ptr = load<usize>(RET_PTR);
  if (r != WasmResult.Ok || ptr == 0) return out;
  decodePairs(ptr, out);
  heap.free(ptr);
  return out;
}

/**
 * Every value of header `name` (lower-case ASCII) in order, from one proxy_get_header_map_pairs;
 * only those values are decoded.
 */
export function getHeaderValues(map: MapType, name: string): Array<string> {
  clearRet();
  raw.proxy_get_header_map_pairs(map, RET_PTR, RET_SIZE);
  const out = new Array<string>();
  const ptr = load<usize>(RET_PTR);
  if (ptr == 0) return out;
  const n = load<u32>(ptr);
  let data = ptr + 4 + <usize>n * 8;
  for (let i: u32 = 0; i < n; i++) {
    const k = <usize>load<u32>(ptr + 4 + <usize>i * 8);
    const v = <usize>load<u32>(ptr + 8 + <usize>i * 8);
    let same = k == <usize>name.length;
    for (let j: usize = 0; same && j < k; j++) same = <i32>load<u8>(data + j) == name.charCodeAt(<i32>j);
    if (same) {
      taken += v;
      out.push(String.UTF8.decodeUnsafe(data + k + 1, v));
    }
    data += k + v + 2;
  }
  heap.free(ptr);
  return out;
}

export function setHeaders(map: MapType, pairs: Array<HeaderPair>): WasmResult {
  const data = encodePairs(pairs);
  return <WasmResult>raw.proxy_set_header_map_pairs(map, changetype<usize>(data), <usize>data.byteLength);
}

// ---- properties --------------------------------------------------------------------------

/** Encodes a property path (segments joined by NUL) into scratch; returns its byte length. */
function encodePath(path: Array<string>): usize {
  let need: usize = 0;
  for (let i = 0; i < path.length; i++) need += worst(path[i]) + 1;
  const base = scratch(need);
  let at = base;
  for (let i = 0; i < path.length; i++) {
    if (i > 0) { store<u8>(at, 0); at++; }
    at += put(path[i], at);
  }
  return at - base;
}

/** Asks the host for a property into (RET_PTR, RET_SIZE); any answer but Ok means no value. */
function fetchProperty(path: Array<string>): bool {
  const len = encodePath(path);
  clearRet();
  return raw.proxy_get_property(scratchPtr, len, RET_PTR, RET_SIZE) == WasmResult.Ok;
}

/** The raw serialized value of a property, or null when the host has none. */
export function getProperty(path: Array<string>): ArrayBuffer | null {
  return fetchProperty(path) ? takeBytes() : null;
}

/** A string property (Envoy serializes strings as their bytes), or null. */
export function getPropertyString(path: Array<string>): string | null {
  return fetchProperty(path) ? takeString() : null;
}

/** An integer property (Envoy serializes int64/uint64 as 8 little-endian bytes), or `fallback`. */
export function getPropertyInt(path: Array<string>, fallback: i64): i64 {
  if (!fetchProperty(path)) return fallback;
  const ptr = load<usize>(RET_PTR);
  const size = load<usize>(RET_SIZE);
  let value = fallback;
  if (ptr != 0 && size == 8) value = load<i64>(ptr);
  if (ptr != 0) heap.free(ptr);
  return value;
}

export function setProperty(path: Array<string>, value: ArrayBuffer): WasmResult {
  const len = encodePath(path);
  return <WasmResult>raw.proxy_set_property(scratchPtr, len, changetype<usize>(value), <usize>value.byteLength);
}

// ---- shared data -------------------------------------------------------------------------

/** A value read from shared data with the CAS token to write it back. */
export class SharedValue {
  constructor(public data: ArrayBuffer, public cas: u32) {}
}

/** The value under `key`, or null when the key is not set. */
export function getSharedData(key: string): SharedValue | null {
  const base = scratch(worst(key));
  clearRet();
  store<u32>(RET_EXTRA, 0);
  const r = raw.proxy_get_shared_data(base, put(key, base), RET_PTR, RET_SIZE, RET_EXTRA);
  if (r != WasmResult.Ok) return null;
  const cas = load<u32>(RET_EXTRA);
  return new SharedValue(takeBytes(), cas);
}

let lastCas: u32 = 0;

/**
 * Copies the value under `key` into [dest, dest+capacity) without allocating; returns its full
 * size (it may exceed `capacity`), or -1 when the key is not set. The CAS token is `sharedCas()`.
 */
export function readSharedData(key: string, dest: usize, capacity: usize): i32 {
  const base = scratch(worst(key));
  clearRet();
  store<u32>(RET_EXTRA, 0);
  const r = raw.proxy_get_shared_data(base, put(key, base), RET_PTR, RET_SIZE, RET_EXTRA);
  if (r != WasmResult.Ok) return -1;
  lastCas = load<u32>(RET_EXTRA);
  const ptr = load<usize>(RET_PTR);
  const size = load<usize>(RET_SIZE);
  if (ptr != 0) {
    memory.copy(dest, ptr, min<usize>(size, capacity));
    heap.free(ptr);
  }
  return <i32>size;
}
export function sharedCas(): u32 { return lastCas; }

/**
 * Writes raw bytes under `key` (see setSharedData). Envoy's host answers Ok or, for a stale
 * `cas`, CasMismatch, and nothing else (proxy-wasm-cpp-host src/shared_data.cc, SharedData::set).
 */
export function writeSharedData(key: string, ptr: usize, size: usize, cas: u32): WasmResult {
  const base = scratch(worst(key));
  return <WasmResult>raw.proxy_set_shared_data(base, put(key, base), ptr, size, cas);
}

/** Fills `size` bytes at `ptr` from the host's random source (WASI random_get); false if it failed. */
export function randomBytes(ptr: usize, size: usize): bool {
  return raw.random_get(ptr, size) == 0;
}

/** Writes `key`; with cas != 0 the write only happens if nobody wrote since (else CasMismatch). */
export function setSharedData(key: string, data: ArrayBuffer, cas: u32 = 0): WasmResult {
  taken += <usize>data.byteLength; // a big plan leaves garbage in proportion
  const base = scratch(worst(key));
  return <WasmResult>raw.proxy_set_shared_data(base, put(key, base), changetype<usize>(data), <usize>data.byteLength, cas);
}

// ---- metrics -----------------------------------------------------------------------------

let lastMetricResult: WasmResult = WasmResult.Ok;

/** Defines (or finds) a metric; returns its id, or 0 with `metricError()` set on failure. */
export function defineMetric(type: MetricType, name: string): u32 {
  const base = scratch(worst(name));
  store<u32>(RET_EXTRA, 0);
  lastMetricResult = <WasmResult>raw.proxy_define_metric(type, base, put(name, base), RET_EXTRA);
  return lastMetricResult == WasmResult.Ok ? load<u32>(RET_EXTRA) : 0;
}
export function metricError(): WasmResult { return lastMetricResult; }

export function incrementMetric(id: u32, offset: i64): WasmResult {
  return <WasmResult>raw.proxy_increment_metric(id, offset);
}
export function recordMetric(id: u32, value: u64): WasmResult {
  return <WasmResult>raw.proxy_record_metric(id, value);
}
/** The current value of a counter or gauge (0 when the host has none). */
export function getMetric(id: u32): u64 {
  store<u64>(RET_EXTRA, 0);
  lastMetricResult = <WasmResult>raw.proxy_get_metric(id, RET_EXTRA);
  return load<u64>(RET_EXTRA);
}

// ---- stream control ----------------------------------------------------------------------

/** Replies to the downstream without going upstream; `grpcStatus` -1 means "not gRPC". */
export function sendLocalResponse(status: u32, details: string, body: string, headers: Array<HeaderPair>, grpcStatus: i32 = -1): WasmResult {
  const pairs = encodePairs(headers);
  const base = encodeTwo(details, body);
  return <WasmResult>raw.proxy_send_local_response(status, base, lenA, base + lenA, lenB,
    changetype<usize>(pairs), <usize>pairs.byteLength, grpcStatus);
}

export function continueStream(type: StreamType): WasmResult { return <WasmResult>raw.proxy_continue_stream(type); }
export function closeStream(type: StreamType): WasmResult { return <WasmResult>raw.proxy_close_stream(type); }
export function done(): WasmResult { return <WasmResult>raw.proxy_done(); }

/** Starts an HTTP call to `upstream` (an Envoy cluster); returns the token, or 0 on failure. */
export function httpCall(upstream: string, headers: Array<HeaderPair>, body: string, timeoutMs: u32): u32 {
  const h = encodePairs(headers);
  const t = encodePairs(new Array<HeaderPair>());
  const base = encodeTwo(upstream, body);
  store<u32>(RET_EXTRA, 0);
  const r = raw.proxy_http_call(base, lenA, changetype<usize>(h), <usize>h.byteLength, base + lenA, lenB,
    changetype<usize>(t), <usize>t.byteLength, timeoutMs, RET_EXTRA);
  return r == WasmResult.Ok ? load<u32>(RET_EXTRA) : 0;
}
