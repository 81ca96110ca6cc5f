// No client can steer traffic, in either mode. Differential property tests: twin filters with the
// same policy and seed see the same requests, one clean and one carrying everything a client might
// forge (the routing header in any case and any count, every x-failover-* header, Envoy's retry
// headers, values naming clusters and aggregates); the forged requests must leave the filter with
// exactly the headers the clean ones do. Affinity keys are the one input a client legitimately
// controls: whatever they name, the chosen cluster is one the published plan gives a share to.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HeaderMap, type HeaderValue, PluginVm } from "../extproc/host/index.js";
import { memoryLogger } from "../extproc/sidecar/logger.js";
import { type Sidecar, startSidecar } from "../extproc/sidecar/server.js";
import { EnvoyLikeClient, type Mutation, attrs, num } from "./support/extproc-client.js";
import {
  AFFINITY_COOKIE, AFFINITY_HEADER, type HeaderList, type Policy, Workers, expectDecisionValid, outcome,
  routingHeaderOf, runs, size, validPolicy,
} from "./support/fuzz.js";
import { FAILOVER_WASM, compiled } from "./support/wasm.js";

const TIMEOUT = size(60_000, 1_800_000);
const EXPLAIN = ["x-failover-cluster", "x-failover-priority", "x-failover-reason", "x-failover-score", "x-failover-decision"];
const RETRY = ["x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries", "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-retriable-status-codes"];
/**
 * The headers the filter owns on the upstream request for a policy: its routing header, the five
 * explanation headers and Envoy's retry headers. (Other x-failover-* names, x-failover-upstream
 * too when the policy routes on another header, are not stripped; they select nothing.)
 */
const owned = (p: Policy) => [routingHeaderOf(p), ...EXPLAIN, ...RETRY];

/** What a client forges: names the filter owns (any case) or that look like its own, values naming clusters. */
function forgery(p: Policy): fc.Arbitrary<HeaderList> {
  const targets = [...p.clusters.map((c: Policy) => c.name), ...p.aggregates.map((a: Policy) => a.name)];
  const name = fc.oneof(
    { weight: 5, arbitrary: fc.mixedCase(fc.constantFrom(...owned(p), "x-failover-upstream")) },
    { weight: 2, arbitrary: fc.stringMatching(/^x-failover-[a-z]{1,12}$/) },
    { weight: 1, arbitrary: fc.constantFrom("x-envoy-upstream-rq-timeout-ms", "x-envoy-hedge-on-per-try-timeout", "x-envoy-retriable-header-names") },
  );
  const value: fc.Arbitrary<HeaderValue> = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...targets, "unknown-cluster", "", "100", "5xx,reset", `${targets[0]}, ${targets.at(-1)}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }) },
  );
  return fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 12 });
}

/** A request a client may legitimately send (affinity keys included, never forged headers). */
const base = (p: Policy) => fc.record({
  authority: fc.constantFrom("svc.example.com", "api.example.com:443", "x.example.com", "other.org"),
  path: fc.constantFrom("/api/v1", "/x/y", "/"),
  user: fc.option(fc.constantFrom(...p.clusters.map((c: Policy) => c.name), "alice", "bob")),
  cookie: fc.option(fc.constantFrom(...p.clusters.map((c: Policy) => c.name), ...p.aggregates.map((a: Policy) => a.name), "0123456789abcdef0123456789abcdef")),
  outcome,
  later: fc.integer({ min: 0, max: 5000 }),
});

/** The request without forgeries; affinity keys (which may name clusters) are legitimate input. */
const clean = (r: { authority: string; path: string; user: string | null; cookie: string | null }): HeaderList => {
  const h: HeaderList = [[":method", "GET"], [":scheme", "https"], [":authority", r.authority], [":path", r.path]];
  if (r.user !== null) h.push([AFFINITY_HEADER, r.user]);
  if (r.cookie !== null) h.push(["cookie", `theme=dark; ${AFFINITY_COOKIE}=${r.cookie}`]);
  return h;
};

/** The filter-owned headers of a request: name -> values. */
function ownedOf(p: Policy, h: HeaderMap): Record<string, string[]> {
  return Object.fromEntries(owned(p).map((n) => [n, h.getAll(n)]));
}

describe("spoofing, in-process (Wasm in Envoy)", () => {
  it("forged routing, x-failover-* and retry headers change nothing the filter decides or sets", () => {
    const input = validPolicy.chain((p) => fc.tuple(fc.constant(p), fc.array(fc.tuple(base(p), forgery(p)), { minLength: 1, maxLength: size(25, 80) })));
    fc.assert(fc.property(input, ([policy, requests]) => {
      const honest = new Workers(policy);
      const forged = new Workers(policy);
      for (const [r, fake] of requests) {
        const a = honest.request(0, clean(r));
        const b = forged.request(0, [...clean(r), ...fake]);
        expect(ownedOf(policy, b.stream.requestHeaders)).toEqual(ownedOf(policy, a.stream.requestHeaders));
        expectDecisionValid(b, policy);
        honest.complete(a.stream, r.outcome);
        forged.complete(b.stream, r.outcome);
        honest.advance(r.later);
        forged.advance(r.later);
      }
      // Health learnt from the same outcomes is the same too.
      expect(forged.plan()).toEqual(honest.plan());
    }), runs(150, 3000));
  }, TIMEOUT);

  it("an affinity header or cookie naming a cluster only ever lands on a cluster the plan gives a share to", () => {
    const input = validPolicy.chain((p) => {
      const targets = [...p.clusters.map((c: Policy) => c.name), ...p.aggregates.map((a: Policy) => a.name)];
      const key = fc.oneof(fc.constantFrom(...targets), fc.constantFrom(...targets).map((t) => `cluster=${t}`), fc.string({ maxLength: 20 }));
      return fc.tuple(fc.constant(p), fc.array(fc.tuple(key, fc.boolean(), outcome), { minLength: 1, maxLength: size(30, 120) }));
    });
    fc.assert(fc.property(input, ([policy, keys]) => {
      // Every route keyed by affinity, and the first cluster drained, so "its" share is 0.
      const first = policy.clusters[0].name;
      const p = { ...policy, assume: { [first]: { ejected: true } } };
      for (const w of [new Workers(p)]) {
        for (const [key, asCookie, o] of keys) {
          const h: HeaderList = [[":authority", "svc.example.com"], [":path", "/api/v1"], asCookie ? ["cookie", `${AFFINITY_COOKIE}=${key}; other=1`] : [AFFINITY_HEADER, key]];
          const d = w.request(0, h);
          expectDecisionValid(d, p);
          if (d.stream.requestHeaders.get("x-failover-reason") !== "no-route") {
            const route = d.plan.routes.find((r) => d.stream.requestHeaders.get("x-failover-decision")!.startsWith(`route=${r.name} `))!;
            if (route.split[first] === 0) expect(d.stream.requestHeaders.get("x-failover-cluster")).not.toBe(first);
          }
          w.complete(d.stream, o);
        }
      }
    }), runs(150, 3000));
  }, TIMEOUT);
});

describe("spoofing, sidecar (ext_proc over gRPC)", () => {
  const T = 1_800_000_000_000n * 1_000_000n;

  /** Envoy applies a HeaderMutation to a case-insensitive map: remove, then set (or append). */
  function applyMutation(headers: HeaderList, m: Mutation | undefined): HeaderMap {
    const out = new HeaderMap(headers);
    for (const name of m?.remove_headers ?? []) out.remove(name);
    for (const o of m?.set_headers ?? []) {
      const v = Buffer.from(o.header.raw_value ?? "");
      if (o.append?.value) out.add(o.header.key, v);
      else {
        out.remove(o.header.key);
        out.add(o.header.key, v);
      }
    }
    return out;
  }

  it("forged headers sent through Envoy change nothing: the sidecar decides as the clean in-process twin", async () => {
    const input = validPolicy.chain((p) => fc.tuple(fc.constant(p), fc.array(fc.tuple(base(p), forgery(p)), { minLength: 1, maxLength: size(10, 40) })));
    await fc.assert(fc.asyncProperty(input, async ([policy, requests]) => {
      // A fresh sidecar per run: health in its shared data must not leak from one run to the next.
      const config = JSON.stringify(policy);
      const sidecar: Sidecar = await startSidecar({
        policy: config, modulePath: FAILOVER_WASM, port: 0, adminPort: null, timers: false, clock: () => T,
        locality: { region: "r1", zone: "a", cluster: "k1" }, logger: memoryLogger(),
      });
      const client = new EnvoyLikeClient(sidecar.port);
      // The in-process twin: the VM the sidecar runs for its own locality, given clean requests.
      const twin = new PluginVm(compiled(FAILOVER_WASM), {
        pluginConfig: config, vmId: "failover", rootId: "locality:r1/a//k1", clock: () => T, logger: () => {},
        properties: { xds: { node: { locality: { region: "r1", zone: "a", sub_zone: "" }, metadata: { CLUSTER_ID: "k1" } } } },
      }).start();
      try {
        for (const [r, fake] of requests) {
          // Envoy hands ext_proc lower-case names (HTTP/2); mixed case is covered in-process.
          const forged: HeaderList = [...clean(r), ...fake.map(([k, v]) => [k.toLowerCase(), v] as [string, HeaderValue])];
          const s = client.open();
          const proto = { headers: forged.map(([key, v]) => ({ key, raw_value: Buffer.from(typeof v === "string" ? Buffer.from(v) : v) })) };
          const answer = await s.send({ request_headers: { headers: proto, end_of_stream: true } });
          expect(answer.error).toBeUndefined();
          const upstream = applyMutation(forged, answer.request_headers?.response?.header_mutation);
          const status = r.outcome.code > 0 ? r.outcome.code : 503;
          await s.send({
            response_headers: { headers: { headers: [{ key: ":status", raw_value: Buffer.from(String(status)) }] }, end_of_stream: true },
            attributes: attrs({ "response.code": num(status), "response.flags": num(r.outcome.flags) }),
          });
          await s.close();
          const t = twin.createStream({});
          t.sendRequestHeaders(clean(r), true);
          // The twin's decision is a valid one (a configured cluster with a share in its plan) ...
          const plan = JSON.parse(new TextDecoder().decode(twin.shared.get(twin.vmId, "failover.plan.locality:r1/a//k1")!.value));
          expectDecisionValid({ worker: 0, stream: t, plan }, policy);
          t.sendResponseHeaders([[":status", String(status)]], true, { response: { code: status, flags: r.outcome.flags } });
          t.end();
          // ... and the sidecar, given forged headers on top, made exactly the same one.
          expect(ownedOf(policy, upstream)).toEqual(ownedOf(policy, t.requestHeaders));
          expect(upstream.getAll(routingHeaderOf(policy)).length).toBe(t.requestHeaders.get("x-failover-reason") === "no-route" ? 0 : 1);
        }
      } finally {
        client.close();
        await sidecar.close();
      }
    }), runs(25, 400));
  }, TIMEOUT);
});
