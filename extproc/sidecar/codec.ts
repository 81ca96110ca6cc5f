// The server's half of the ext_proc wire format: a ProcessingRequest decoded straight into
// protobufjs's message object, a ProcessingResponse encoded straight from the plain object the
// processor builds (or passed through when the processor already holds its bytes). proto-loader's
// generic path converts every message once more (toObject with the longs/enums/defaults options
// on each request, fromObject on each answer); the processor reads the decoded message as it is.
// The types come from the protos that ship in @grpc/grpc-js-xds, as in protocol.ts.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
const deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
/** Where the Envoy API protos and their imports are (@grpc/grpc-js-xds's deps/ folder). */
export const PROTO_DIRS = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(deps, d));
export const EXT_PROC_PROTO = "envoy/service/ext_proc/v3/external_processor.proto";

let types: { request: protobuf.Type; response: protobuf.Type } | undefined;

/** ProcessingRequest and ProcessingResponse, loaded once (field names as in the protos). */
function extProcTypes(): { request: protobuf.Type; response: protobuf.Type } {
  if (types) return types;
  // descriptor.proto (imported by the validate and udpa annotations) is not among protobufjs's
  // built-in common protos; it ships as JSON with protobufjs.
  protobuf.common("descriptor", require("protobufjs/google/protobuf/descriptor.json").nested.google.nested.protobuf.nested);
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    for (const dir of PROTO_DIRS) if (existsSync(join(dir, target))) return join(dir, target);
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(EXT_PROC_PROTO, { keepCase: true });
  root.resolveAll();
  types = {
    request: root.lookupType("envoy.service.ext_proc.v3.ProcessingRequest"),
    response: root.lookupType("envoy.service.ext_proc.v3.ProcessingResponse"),
  };
  return types;
}

/**
 * A ProcessingRequest as protobufjs decodes it: absent fields read their proto3 default from
 * the message's prototype (null for a message, false, "", an empty array), and `request` is the
 * name of the oneof member that is set. Throws on bytes that are not a ProcessingRequest.
 */
export function decodeRequest(bytes: Uint8Array): unknown {
  return extProcTypes().request.decode(bytes);
}

/**
 * The bytes of a ProcessingResponse given as a plain object with the protos' field names (enums
 * as numbers, bytes as Uint8Array), or bytes already encoded (a prepared answer), as they are.
 */
export function encodeResponse(value: object): Buffer {
  if (value instanceof Uint8Array) return value as Buffer;
  return extProcTypes().response.encode(value).finish() as Buffer;
}

/** The encoded answer, prepared once: bytes that never change need no encoding per request. */
export const prepared = (value: object): Buffer => Buffer.from(encodeResponse(value));

// ---- the headers answer, written straight into its bytes ---------------------------------------
// protobufjs's writer allocates an operation object per field and a state per nested message:
// for the filter's mutation (a dozen headers) that was most of what an answer allocated. The
// answer to a headers message has one shape (ProcessingResponse > HeadersResponse >
// CommonResponse > HeaderMutation > HeaderValueOption > HeaderValue), so it is sized, then
// written into one buffer. Field numbers come from the loaded types, never from here.

/** A field's key (number and wire type) as its varint value. */
const key = (type: protobuf.Type, field: string, wire: number): number => {
  const f = type.fields[field];
  if (!f) throw new Error(`${type.fullName} has no field ${field}`);
  return (f.id << 3) | wire;
};
const LEN = 2;
const VARINT = 0;

let keys: ReturnType<typeof answerKeys> | undefined;
function answerKeys() {
  const { response } = extProcTypes();
  const root = response.root;
  const t = (name: string) => root.lookupType(name);
  const headersResponse = t("envoy.service.ext_proc.v3.HeadersResponse");
  const common = t("envoy.service.ext_proc.v3.CommonResponse");
  const mutation = t("envoy.service.ext_proc.v3.HeaderMutation");
  const option = t("envoy.config.core.v3.HeaderValueOption");
  const value = t("envoy.config.core.v3.HeaderValue");
  return {
    request_headers: key(response, "request_headers", LEN),
    response_headers: key(response, "response_headers", LEN),
    response: key(headersResponse, "response", LEN),
    headerMutation: key(common, "header_mutation", LEN),
    clearRouteCache: key(common, "clear_route_cache", VARINT),
    setHeaders: key(mutation, "set_headers", LEN),
    removeHeaders: key(mutation, "remove_headers", LEN),
    header: key(option, "header", LEN),
    append: key(option, "append", LEN),
    appendValue: key(t("google.protobuf.BoolValue"), "value", VARINT),
    key: key(value, "key", LEN),
    rawValue: key(value, "raw_value", LEN),
  };
}

const varintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);
function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}
/** A length-delimited field's size: key, length, content. */
const delimited = (k: number, length: number): number => varintSize(k) + varintSize(length) + length;

/** One header the module changed: its name, and its values now (none: it was removed). */
export interface ChangedHeader {
  readonly name: string;
  readonly values: readonly Uint8Array[];
}

/**
 * The ProcessingResponse answering request or response headers with a HeaderMutation: each
 * removed name in remove_headers, each changed name's values in set_headers (raw_value; the
 * second and later values with append), and clear_route_cache when asked. The same bytes as
 * protobufjs's encoding of that answer (test/sidecar-codec.test.ts).
 */
export function encodeHeadersAnswer(kind: "request_headers" | "response_headers", changes: readonly ChangedHeader[], clearRouteCache: boolean): Buffer {
  const k = (keys ??= answerKeys());
  const appendSize = delimited(k.append, varintSize(k.appendValue) + 1);
  const nameBytes = new Array<number>(changes.length);
  let mutation = 0;
  for (let i = 0; i < changes.length; i++) {
    const { name, values } = changes[i];
    const n = (nameBytes[i] = Buffer.byteLength(name));
    if (values.length === 0) {
      mutation += delimited(k.removeHeaders, n);
      continue;
    }
    for (let j = 0; j < values.length; j++) {
      const header = delimited(k.key, n) + delimited(k.rawValue, values[j].length);
      mutation += delimited(k.setHeaders, delimited(k.header, header) + (j > 0 ? appendSize : 0));
    }
  }
  const common = delimited(k.headerMutation, mutation) + (clearRouteCache ? varintSize(k.clearRouteCache) + 1 : 0);
  const headersResponse = delimited(k.response, common);
  const buf = Buffer.allocUnsafe(delimited(k[kind], headersResponse));
  let pos = writeVarint(buf, 0, k[kind]);
  pos = writeVarint(buf, pos, headersResponse);
  pos = writeVarint(buf, pos, k.response);
  pos = writeVarint(buf, pos, common);
  pos = writeVarint(buf, pos, k.headerMutation);
  pos = writeVarint(buf, pos, mutation);
  // set_headers (field 1) before remove_headers (field 2), as protobufjs writes them.
  for (let i = 0; i < changes.length; i++) {
    const { name, values } = changes[i];
    const n = nameBytes[i];
    for (let j = 0; j < values.length; j++) {
      const v = values[j];
      const header = delimited(k.key, n) + delimited(k.rawValue, v.length);
      pos = writeVarint(buf, pos, k.setHeaders);
      pos = writeVarint(buf, pos, delimited(k.header, header) + (j > 0 ? appendSize : 0));
      pos = writeVarint(buf, pos, k.header);
      pos = writeVarint(buf, pos, header);
      pos = writeVarint(buf, pos, k.key);
      pos = writeVarint(buf, pos, n);
      pos += buf.write(name, pos, n, "utf8");
      pos = writeVarint(buf, pos, k.rawValue);
      pos = writeVarint(buf, pos, v.length);
      buf.set(v, pos);
      pos += v.length;
      if (j > 0) {
        pos = writeVarint(buf, pos, k.append);
        pos = writeVarint(buf, pos, varintSize(k.appendValue) + 1);
        pos = writeVarint(buf, pos, k.appendValue);
        buf[pos++] = 1;
      }
    }
  }
  for (let i = 0; i < changes.length; i++) {
    if (changes[i].values.length > 0) continue;
    pos = writeVarint(buf, pos, k.removeHeaders);
    pos = writeVarint(buf, pos, nameBytes[i]);
    pos += buf.write(changes[i].name, pos, nameBytes[i], "utf8");
  }
  if (clearRouteCache) {
    pos = writeVarint(buf, pos, k.clearRouteCache);
    buf[pos++] = 1;
  }
  if (pos !== buf.length) throw new Error(`headers answer sized ${buf.length} bytes, written ${pos}`);
  return buf;
}
