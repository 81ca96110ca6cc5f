// Random ext_proc message sequences over real gRPC: in any order, with any headers (huge, binary,
// repeated, pseudo), bodies, trailers, empty messages, observability mode, and any attributes
// (response codes and flags, absurd attempt counts, node localities, metadata). The sidecar must
// answer every message it can process with the matching response kind, refuse the rest with
// INVALID_ARGUMENT or RESOURCE_EXHAUSTED, close every stream, never hang (every wait is bounded),
// never trap its filter, and serve a normal request correctly afterwards.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../extproc/sidecar/logger.js";
import { type Sidecar, startSidecar } from "../extproc/sidecar/server.js";
import { EnvoyLikeClient, type Response, attrs, headerProto, num, str, struct } from "./support/extproc-client.js";
import { type HeaderList, headerSet, runs, size } from "./support/fuzz.js";
import { FAILOVER_WASM } from "./support/wasm.js";

const TIMEOUT = size(90_000, 1_800_000);
/** No single answer may take longer than this: a hang fails the property instead of the suite. */
const WAIT_MS = 5_000;
const MAX_HEADER_BYTES = 256 * 1024;

const policy = {
  seed: 3,
  explainResponse: true,
  locality: { region: "r1", zone: "a" },
  clusters: [
    { name: "near", region: "r1", zone: "a", hosts: ["svc.example.com", "api.example.com"] },
    { name: "far", region: "r2", zone: "b", hosts: ["svc.example.com", "api.example.com"] },
  ],
  aggregates: [{ name: "near-then-far", clusters: ["near", "far"] }, { name: "far-then-near", clusters: ["far", "near"] }],
  routes: [
    { name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "auto" }, retry: { acrossClusters: true, numRetries: 2 } },
    { name: "api", match: { authority: "api.example.com" }, destination: { mode: "weighted", weights: { near: 1, far: 1 } }, affinity: { cookie: { name: "sess" } } },
  ],
  health: { outlierDetection: { consecutive5xx: 3 }, probe: { percent: 5 } },
};
const NAMES = ["near", "far", "near-then-far", "far-then-near"];

// ---- messages ------------------------------------------------------------------------------

type ProtoValue = Record<string, unknown>;
const value: fc.Arbitrary<ProtoValue> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.double().map((n) => ({ kind: "numberValue", numberValue: n })),
    fc.constantFrom(0, 200, 503, -1, 2 ** 31, 2 ** 53 - 1, 1e300, 0.5).map((n) => num(n)),
    fc.string({ maxLength: 20 }).map(str),
    fc.boolean().map((b) => ({ kind: "boolValue", boolValue: b })),
    fc.constant({ kind: "nullValue", nullValue: "NULL_VALUE" }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie("v") as fc.Arbitrary<ProtoValue>, { maxKeys: 3 }).map((f) => ({ kind: "structValue", structValue: struct(f) })),
    fc.array(tie("v") as fc.Arbitrary<ProtoValue>, { maxLength: 3 }).map((values) => ({ kind: "listValue", listValue: { values } })),
  ),
})).v;

const node = fc.record({ region: fc.constantFrom("r1", "r2", "r9", ""), zone: fc.constantFrom("a", "b", "z") }).map(({ region, zone }) =>
  ({ kind: "structValue", structValue: struct({ locality: { kind: "structValue", structValue: struct({ region: str(region), zone: str(zone) }) } }) }));

/** Envoy's attributes, with the names the filter reads and random others. */
const attributes = fc.dictionary(
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("response.code", "response.flags", "upstream.request_attempt_count", "source.address", "response.code_details", "xds.cluster_name") },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  ),
  value,
  { maxKeys: 4 },
).chain((fields) => fc.option(node, { freq: 4 }).map((n) => attrs(n ? { ...fields, "xds.node": n } : fields)));

const protoHeaders = (h: HeaderList) => ({ headers: h.map(([key, v]) => ({ key, raw_value: Buffer.from(typeof v === "string" ? Buffer.from(v) : v) })) });

type Kind = "request_headers" | "response_headers" | "request_body" | "response_body" | "request_trailers" | "response_trailers" | "none";

/** One message of the given kind, with random contents. */
const messageOf = (kind: Kind) => fc.record({
  headers: headerSet(NAMES, size(2048, 16 * 1024)),
  // Now and then a header set around the limit (fc.option's freq is the odds of null: 1 in freq).
  bloat: fc.oneof({ weight: 14, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: MAX_HEADER_BYTES - 1024, max: 2 * MAX_HEADER_BYTES }) }),
  eos: fc.boolean(),
  body: fc.uint8Array({ maxLength: 256 }),
  attributes: fc.option(attributes, { freq: 2 }),
  metadata: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 2 }).map(struct), { maxKeys: 2 }), { freq: 4 }),
  observe: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
}).map((m) => {
  const headers = m.bloat === null ? m.headers : [...m.headers, ["x-bloat", "b".repeat(m.bloat)] as [string, string]];
  const out: Record<string, unknown> = {};
  switch (kind) {
    case "request_headers":
    case "response_headers":
      out[kind] = { headers: protoHeaders(kind === "response_headers" ? [[":status", "200"], ...headers] : headers), end_of_stream: m.eos };
      break;
    case "request_body":
    case "response_body":
      out[kind] = { body: Buffer.from(m.body), end_of_stream: m.eos };
      break;
    case "request_trailers":
    case "response_trailers":
      out[kind] = { trailers: protoHeaders(headers.filter(([k]) => !k.startsWith(":"))) };
      break;
  }
  if (m.attributes) out.attributes = m.attributes;
  if (m.metadata) out.metadata_context = { filter_metadata: m.metadata };
  if (m.observe) out.observability_mode = true;
  return { kind, observe: m.observe, message: out };
});

const KINDS: Kind[] = ["request_headers", "response_headers", "request_body", "response_body", "request_trailers", "response_trailers", "none"];

/**
 * The kinds of one stream: mostly Envoy's order (request headers, bodies, trailers, then the
 * response's), cut short where a client might vanish, sometimes with a message out of place;
 * and some fully random sequences.
 */
const kinds: fc.Arbitrary<Kind[]> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    reqBodies: fc.integer({ min: 0, max: 2 }), reqTrailers: fc.boolean(), respBodies: fc.integer({ min: 0, max: 2 }), respTrailers: fc.boolean(),
    cut: fc.integer({ min: 1, max: 9 }),
    stray: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.constantFrom(...KINDS)) }),
  }).map((k) => {
    const list: Kind[] = ["request_headers", ...Array<Kind>(k.reqBodies).fill("request_body"), ...(k.reqTrailers ? ["request_trailers" as Kind] : []),
      "response_headers", ...Array<Kind>(k.respBodies).fill("response_body"), ...(k.respTrailers ? ["response_trailers" as Kind] : [])];
    const cut = list.slice(0, Math.min(list.length, k.cut));
    if (k.stray) cut.splice(1 + (k.stray[0] % cut.length), 0, k.stray[1]);
    return cut;
  }) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 5 }) },
);
const stream = kinds.chain((ks) => fc.tuple(...ks.map(messageOf)));

// ---- one stream, with bounded waits ---------------------------------------------------------

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms); })])
    .finally(() => clearTimeout(timer));
}

interface Played { answers: { kind: Kind; answer: Response }[]; error?: { code: number; details: string }; closed: boolean }

/** Plays messages on one stream: waits for each answer (not in observability mode), stops at an error, half-closes. */
async function play(client: EnvoyLikeClient, messages: { kind: Kind; observe: boolean; message: object }[]): Promise<Played> {
  const call = (client.client as any).Process();
  const queue: Response[] = [];
  const waiting: ((r: Response | undefined) => void)[] = [];
  let error: { code: number; details: string } | undefined;
  let over = false;
  const closed = new Promise<void>((resolve) => {
    call.on("data", (r: Response) => { const w = waiting.shift(); if (w) w(r); else queue.push(r); });
    call.on("error", (e: { code: number; details: string }) => {
      error = { code: e.code, details: e.details };
      for (const w of waiting.splice(0)) w(undefined);
      resolve();
    });
    // The sidecar ends a stream itself (OK) once Envoy needs nothing more: nothing more is answered.
    const ended = () => {
      over = true;
      for (const w of waiting.splice(0)) w(undefined);
      resolve();
    };
    call.on("status", ended);
    call.on("end", ended);
  });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : error || over ? Promise.resolve(undefined) : new Promise<Response | undefined>((r) => waiting.push(r)));
  const out: Played = { answers: [], closed: false };
  for (const m of messages) {
    if (error) break;
    call.write(m.message);
    if (m.observe) continue;
    const answer = await within(next(), WAIT_MS, `answer to ${m.kind}`);
    if (answer === undefined) break; // the stream ended with a status
    out.answers.push({ kind: m.kind, answer });
  }
  call.end();
  await within(closed, WAIT_MS, "stream close after half-close");
  out.closed = true;
  out.error = error;
  return out;
}

// ---- the properties ------------------------------------------------------------------------

describe("random ext_proc message sequences over real gRPC", () => {
  let sidecar: Sidecar;
  let client: EnvoyLikeClient;
  const logger = memoryLogger();
  beforeAll(async () => {
    sidecar = await startSidecar({
      policy: JSON.stringify(policy), modulePath: FAILOVER_WASM, port: 0, adminPort: null, timers: false,
      clock: () => 1_800_000_000_000n * 1_000_000n, locality: { region: "r1", zone: "a" }, logger, maxHeaderBytes: MAX_HEADER_BYTES,
    });
    client = new EnvoyLikeClient(sidecar.port);
  });
  afterAll(async () => {
    client.close();
    await sidecar.close();
  });

  /** A normal request still gets the right answer. */
  async function servesCorrectly(): Promise<void> {
    const { upstreamRequest } = await within(client.exchange([[":authority", "svc.example.com"], [":path", "/"]], [[":status", "200"]]), WAIT_MS, "a normal exchange");
    const routed = upstreamRequest?.filter(([k]) => k === "x-failover-upstream").map(([, v]) => v);
    expect(routed?.length).toBe(1);
    expect(["near", "far", "near-then-far", "far-then-near"]).toContain(routed![0]);
  }

  it("answers or closes every stream, with the matching answer or a clear status, and keeps serving", async () => {
    const streams = fc.array(stream, { minLength: 1, maxLength: 4 });
    await fc.assert(fc.asyncProperty(streams, async (all) => {
      const results = await Promise.all(all.map((messages) => play(client, messages)));
      for (const r of results) {
        expect(r.closed).toBe(true);
        for (const { kind, answer } of r.answers) {
          // Each answer is the response kind Envoy waits for, or the filter's own reply. (With
          // proto-loader's `oneofs`, `response` names the member of the oneof that is set.)
          expect([kind, "immediate_response"], `${kind} answered with ${JSON.stringify(answer).slice(0, 200)}`).toContain(answer.response);
          expect(answer[answer.response]).toBeDefined();
        }
        if (r.error) {
          expect([3, 8], `status ${r.error.code}: ${r.error.details}`).toContain(r.error.code);
          expect(r.error.details.length).toBeGreaterThan(0);
        }
      }
      expect(sidecar.pool.failure).toBeUndefined();
      await servesCorrectly();
    }), runs(100, 2000));
    // Every stream was accounted for: none is left open in the sidecar.
    await new Promise((r) => setTimeout(r, 50));
    expect((await sidecar.metrics.active.get()).values[0].value).toBe(0);
    expect((await sidecar.metrics.errors.get()).values.filter((v) => (v.labels.kind === "internal" || v.labels.kind === "filter_trap") && v.value > 0)).toEqual([]);
  }, TIMEOUT);

  it("refuses the typical protocol mistakes by name", async () => {
    const ok = { request_headers: { headers: headerProto([[":authority", "svc.example.com"], [":path", "/"]]) } };
    const cases: [object[], number, RegExp][] = [
      [[{ response_headers: { headers: headerProto([[":status", "200"]]) } }], 3, /response_headers before request_headers/],
      [[{ request_body: { body: Buffer.from("x") } }], 3, /request_body before request_headers/],
      [[{ response_trailers: { trailers: headerProto([]) } }], 3, /response_trailers before request_headers/],
      [[ok, ok], 3, /request_headers sent twice/],
      [[{}], 3, /unknown ext_proc message/],
      [[{ request_headers: { headers: headerProto([["x-big", "b".repeat(MAX_HEADER_BYTES)]]) } }], 8, /exceeds the limit of 262144/],
    ];
    for (const [messages, code, details] of cases) {
      const r = await play(client, messages.map((message) => ({ kind: "none" as Kind, observe: false, message })));
      expect(r.error?.code).toBe(code);
      expect(r.error?.details).toMatch(details);
    }
    await servesCorrectly();
  });
});
