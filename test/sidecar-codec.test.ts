// The sidecar's own ext_proc codec (extproc/sidecar/codec.ts) against proto-loader's generic
// conversion, which it replaces on the server's side: the processor must read the same request
// from both, and every answer must leave as the same bytes.
import { describe, expect, it } from "vitest";
import { decodeRequest, encodeHeadersAnswer, encodeResponse, prepared } from "../extproc/sidecar/codec.js";
import {
  type ProcessingRequest, attributesToProperties, extProcService, fromStruct, genericExtProcService, headerMutation, toHeaderMap,
} from "../extproc/sidecar/protocol.js";
import { attrs, headerProto, num, str, struct } from "./support/extproc-client.js";

const generic = genericExtProcService().Process;
const served = extProcService().Process;
const hex = (b: Uint8Array | string) => (typeof b === "string" ? `text:${b}` : Buffer.from(b).toString("hex"));

/** What the processor reads of a request (processor.ts), in comparable form. */
function view(m: ProcessingRequest) {
  const kind = m.request;
  const part = kind ? (m as Record<string, any>)[kind] : undefined;
  const headers = part?.headers ?? part?.trailers;
  return {
    kind,
    headers: toHeaderMap(headers).entries.map((e) => [e.name, hex(e.value)]),
    endOfStream: part?.end_of_stream ?? false,
    body: kind?.endsWith("_body") ? hex(part?.body ?? new Uint8Array(0)) : null,
    properties: attributesToProperties(m.attributes),
    metadata: Object.fromEntries(Object.entries(m.metadata_context?.filter_metadata ?? {}).map(([ns, s]) => [ns, fromStruct(s)])),
    observability: m.observability_mode ?? false,
  };
}

const REQUESTS: Record<string, object> = {
  "request headers with raw_value, value-only and empty headers, and attributes": {
    request_headers: {
      headers: { headers: [...headerProto([[":authority", "svc"], [":path", "/a?b"]]).headers, { key: "x-old-envoy", value: "text" }, { key: "x-empty" }] },
      end_of_stream: true,
    },
    attributes: {
      ...attrs({
        "source.address": str("10.0.0.1:5000"), "response.code": num(0), "xds.node": { kind: "structValue", structValue: struct({ id: str("n1"), locality: { kind: "structValue", structValue: struct({ zone: str("a") }) } }) },
        "connection.mtls": { kind: "boolValue", boolValue: false }, "x.list": { kind: "listValue", listValue: { values: [str("a")] } }, "x.null": { kind: "nullValue", nullValue: "NULL_VALUE" },
      }),
      "other.filter": struct({ "request.id": str("r-1") }),
    },
  },
  "response headers, not the end of the stream": { response_headers: { headers: headerProto([[":status", "503"]]), end_of_stream: false } },
  "a request body with metadata": {
    request_body: { body: Buffer.from([0, 1, 2, 255]), end_of_stream: true },
    metadata_context: { filter_metadata: { "envoy.lb": struct({ canary: { kind: "boolValue", boolValue: true } }) } },
  },
  "an empty response body": { response_body: {} },
  "response trailers in observability mode": { response_trailers: { trailers: headerProto([["grpc-status", "0"]]) }, observability_mode: true },
  "no request at all": {},
};

describe("the sidecar's ext_proc codec", () => {
  for (const [name, message] of Object.entries(REQUESTS)) {
    it(`decodes ${name} as proto-loader's conversion does, for every field the processor reads`, () => {
      const bytes = generic.requestSerialize(message);
      const ours = served.requestDeserialize(bytes) as ProcessingRequest;
      expect(ours.malformed).toBeUndefined();
      expect(view(ours)).toEqual(view(generic.requestDeserialize(bytes) as ProcessingRequest));
    });
  }

  it("names bytes that are not a ProcessingRequest, so the stream gets INVALID_ARGUMENT", () => {
    expect(() => decodeRequest(Buffer.from([0x12, 0xe8, 0x07, 0x01]))).toThrow(/index out of range/);
    expect((served.requestDeserialize(Buffer.from([0x12, 0xe8, 0x07, 0x01])) as ProcessingRequest).malformed).toMatch(/^not a ProcessingRequest \(4 bytes\): /);
  });

  const mutation = headerMutation([
    { name: "x-failover-upstream", values: [Buffer.from("cluster-1")] },
    { name: "x-failover-attempt", values: [new Uint8Array([0x61]), new Uint8Array([0xff, 0x00])] },
    { name: "x-envoy-retry-on", values: [] },
  ]);
  const ANSWERS: Record<string, object> = {
    "a header mutation that re-picks the route": { request_headers: { response: { header_mutation: mutation, clear_route_cache: true } } },
    "response headers left as they were": { response_headers: { response: {} } },
    "an immediate response with headers, body and gRPC status": {
      immediate_response: { status: { code: 503 }, headers: mutation, body: Buffer.from("no healthy upstream"), details: "failover_no_route", grpc_status: { status: 14 } },
    },
    "a rewritten body": { response_body: { response: { body_mutation: { body: new Uint8Array([1, 2, 3]) } } } },
    "a trailers mutation": { request_trailers: { header_mutation: { set_headers: [], remove_headers: ["x-a"] } } },
  };
  for (const [name, answer] of Object.entries(ANSWERS)) {
    it(`encodes ${name} to the bytes proto-loader's conversion gives`, () => {
      expect(hex(served.responseSerialize(answer))).toBe(hex(generic.responseSerialize(answer)));
      expect(hex(prepared(answer))).toBe(hex(generic.responseSerialize(answer)));
    });
  }

  const CHANGES = {
    "one routing header": [{ name: "x-failover-upstream", values: [Buffer.from("cluster-1")] }],
    "set, appended, empty, non-UTF-8 and removed values, non-ASCII names": [
      { name: "x-failover-upstream", values: [Buffer.from("cluster-1")] },
      { name: "x-failover-attempt", values: [new Uint8Array([0x61]), new Uint8Array(0), new Uint8Array([0xff, 0x00])] },
      { name: "x-envoy-retry-on", values: [] },
      { name: "x-naïve", values: [Buffer.from("é")] },
      { name: "x-gone", values: [] },
    ],
    "long names and values (multi-byte lengths)": [
      { name: "x-".padEnd(300, "n"), values: [new Uint8Array(20_000).fill(0x41), new Uint8Array(200).fill(0x42)] },
    ],
  };
  for (const [name, changes] of Object.entries(CHANGES)) {
    for (const kind of ["request_headers", "response_headers"] as const) {
      for (const clear of [true, false]) {
        it(`writes the ${kind} answer for ${name}${clear ? ", re-picking the route," : ""} as protobufjs encodes it`, () => {
          const response: Record<string, unknown> = { header_mutation: headerMutation(changes) };
          if (clear) response.clear_route_cache = true;
          expect(hex(encodeHeadersAnswer(kind, changes, clear))).toBe(hex(generic.responseSerialize({ [kind]: { response } })));
        });
      }
    }
  }

  it("passes a prepared answer through as it is", () => {
    const bytes = prepared({ request_headers: { response: {} } });
    expect(encodeResponse(bytes)).toBe(bytes);
    expect(generic.responseDeserialize(bytes)).toEqual({ request_headers: { response: {} }, response: "request_headers" });
  });
});
