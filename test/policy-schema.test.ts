// schema/policy.schema.json against the module, which stays the authority: every example and
// scenario policy validates (ajv); both know exactly the same fields at every place (the module's
// own "unknown field (expected one of: ...)" list against the schema's properties); documents
// drawn from the schema (fast-check) are accepted by the module; an unknown field or a value of the
// wrong type is refused by both.
import { readFileSync, readdirSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { EPOCH_NS, PolicyRejected, failoverModule, startFailover } from "../extproc/module/failover-module.js";
import { type Schema, SchemaWalker } from "./support/schema-arbitrary.js";

const SCHEMA_FILE = "schema/policy.schema.json";
const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
const valid = ajv.compile(schema);
const walker = new SchemaWalker(schema);
let module: WebAssembly.Module;
beforeAll(async () => {
  module = await failoverModule();
});

/** The module's verdict: [] when it accepts the policy, else its error lines. */
function moduleErrors(policy: unknown): string[] {
  try {
    startFailover(module, { config: policy as Record<string, unknown>, clock: () => EPOCH_NS }).shutdown();
    return [];
  } catch (e) {
    if (e instanceof PolicyRejected) return e.problems;
    throw e;
  }
}
const schemaErrors = (policy: unknown) => (valid(policy) ? [] : (valid.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

/** Every field the module knows, at every place: a valid policy that sets all of them. */
const SINK = {
  routingHeader: "x-failover-upstream", explainResponse: true, seed: 7,
  locality: { region: "r1", zone: "z1", subzone: "s1", cluster: "c1", labels: { version: "v1" } },
  clusters: [
    { name: "a", region: "r1", zone: "z1", subzone: "s1", cluster: "c1", labels: { version: "v1" }, hosts: ["app.example.com"], endpoints: 14, weight: 14 },
    { name: "b", region: "r2", zone: "z2", hosts: ["app.example.com"], endpoints: 3 },
    { name: "c", region: "r3" },
  ],
  aggregates: [{ name: "a-then-b", clusters: ["a", "b"] }, { name: "b-then-a", clusters: ["b", "a"] }],
  routes: [
    {
      name: "app", match: { authority: "app.example.com", pathPrefix: "/" }, destination: { mode: "auto" },
      priority: { failoverPriority: ["topology.istio.io/cluster"], failover: [{ from: "r1", to: "r2" }] },
      retry: { retryOn: "5xx,retriable-status-codes", numRetries: 2, perTryTimeout: "2s", retriableStatusCodes: [503], acrossClusters: true, budget: { percent: 20, minRetries: 3 } },
      affinity: { cookie: { name: "aff", ttl: "1h", path: "/", secret: "0123456789abcdef", previousSecrets: ["fedcba9876543210"] } },
    },
    { name: "named", match: { authority: "*.example.com" }, destination: { mode: "named", clusters: ["a", "b"] }, priority: { distribute: [{ from: "r1/z1/*", to: { "r1/z1/*": 50, "r2/*": 50 } }] }, affinity: { header: "x-user" } },
    { name: "weighted", match: { authority: "*" }, destination: { mode: "weighted", weights: { a: 90, b: 10 } }, affinity: { sourceIp: true } },
  ],
  health: {
    overprovisioningFactor: 1.4, panicThreshold: 50, refreshInterval: "250ms", window: "10s", minRequests: 5, latency: { weight: 0.5, tolerance: 2 },
    slowStart: "30s", probe: { percent: 1, successes: 3 }, hysteresis: 5,
    outlierDetection: {
      consecutive5xx: 5, consecutiveGatewayErrors: 0, consecutiveLocalOriginFailures: 5, splitExternalLocalOriginErrors: false,
      interval: "10s", baseEjectionTime: "30s", maxEjectionTime: "5m", maxEjectionPercent: 100, minHealthPercent: 50, minSources: 2,
    },
  },
  assume: { a: { healthy: 5, total: 14 }, b: { score: 80 }, c: { ejected: true } },
};

/**
 * Members whose valid values depend on other members (names that must exist, weights that sum to
 * 100, retryOn with its status codes, ...): rules only the module checks, so the generator keeps
 * the SINK's values there. Paths with `*` for any index or key.
 */
const CROSS_FIELD = [
  "clusters.*.name", "clusters.*.hosts", "aggregates", "routes.*.name", "routes.*.match.authority", "routes.*.destination",
  "routes.*.priority.failover", "routes.*.priority.distribute", "routes.*.priority.failoverPriority", "routes.*.retry.retryOn",
  "routes.*.retry.retriableStatusCodes", "routes.*.retry.acrossClusters", "routes.*.affinity",
  "health.outlierDetection.baseEjectionTime", "health.outlierDetection.maxEjectionTime", "assume",
];
type Path = (string | number)[];
const matches = (path: Path, pattern: string) => {
  const p = pattern.split(".");
  return p.length <= path.length && p.every((seg, i) => seg === "*" || seg === String(path[i]));
};
const crossField = (path: Path) => CROSS_FIELD.some((p) => matches(path, p));
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every object with fixed fields in a document (not maps: labels, weights, assume, distribute.to), with its path. */
function objects(v: unknown, path: Path = []): { path: Path; value: Record<string, unknown> }[] {
  const out: { path: Path; value: Record<string, unknown> }[] = [];
  const s = walker.at(path);
  if (isObj(v) && s?.properties) out.push({ path, value: v });
  if (isObj(v)) for (const [k, c] of Object.entries(v)) out.push(...objects(c, [...path, k]));
  if (Array.isArray(v)) v.forEach((c, i) => out.push(...objects(c, [...path, i])));
  return out;
}

/** Every leaf (scalar, or list of scalars) with its path. */
function leaves(v: unknown, path: Path = []): Path[] {
  if (isObj(v)) return Object.entries(v).flatMap(([k, c]) => leaves(c, [...path, k]));
  if (Array.isArray(v) && v.some((c) => typeof c === "object")) return v.flatMap((c, i) => leaves(c, [...path, i]));
  return [path];
}

const clone = <T>(v: T): T => structuredClone(v);
function setAt(doc: any, path: Path, value: unknown): void {
  const parent = path.slice(0, -1).reduce((o, k) => o[k], doc);
  if (value === undefined) delete parent[path.at(-1)!];
  else parent[path.at(-1)!] = value;
}
const show = (path: Path) => path.map((s, i) => (typeof s === "number" ? `[${s}]` : i ? `.${s}` : s)).join("");

describe("the policy schema", () => {
  it("is a valid JSON Schema (draft 2020-12, ajv strict)", () => {
    expect(ajv.validateSchema(schema)).toBe(true);
    expect(schemaErrors(SINK)).toEqual([]);
    expect(moduleErrors(SINK)).toEqual([]);
  });

  it("validates every example, envoy/ and scenario policy, and the examples carry the yaml-language-server modeline", () => {
    const files = [...readdirSync("examples").map((f) => `examples/${f}`), ...readdirSync("envoy/policies").map((f) => `envoy/policies/${f}`)];
    for (const f of files) expect(schemaErrors(parse(readFileSync(f, "utf8"))), f).toEqual([]);
    for (const f of readdirSync("examples")) {
      expect(readFileSync(`examples/${f}`, "utf8").split("\n")[0], f).toBe("# yaml-language-server: $schema=../schema/policy.schema.json");
    }
    let inline = 0;
    for (const f of readdirSync("scenarios").filter((f) => f.endsWith(".yaml"))) {
      const s = parse(readFileSync(`scenarios/${f}`, "utf8"));
      for (const p of [s.policy, ...(s.plan ?? []).map((c: any) => c.policy), ...(s.simulate ?? []).map((c: any) => c.policy)]) {
        if (isObj(p)) {
          inline++;
          expect(schemaErrors(p), f).toEqual([]);
        }
      }
    }
    expect(inline).toBeGreaterThan(0);
  });

  it("knows exactly the fields the module knows, at every place", () => {
    const setBySink = new Map<Schema, Set<string>>();
    for (const { path, value } of objects(SINK)) {
      const doc = clone(SINK);
      setAt(doc, [...path, "zzUnknown"], 1);
      const line = moduleErrors(doc).find((e) => e.startsWith(`failover: policy: ${show([...path, "zzUnknown"])}: unknown field`));
      expect(line, `the module refuses an unknown field at ${show(path) || "the top"}`).toBeDefined();
      const moduleFields = /\(expected one of: (.*)\)$/.exec(line!)![1].split(", ").sort();
      const s = walker.at(path)!;
      expect(Object.keys(s.properties).sort(), `fields at ${show(path) || "the top"}`).toEqual(moduleFields);
      expect(s.additionalProperties, show(path)).toBe(false);
      setBySink.set(s, new Set([...(setBySink.get(s) ?? []), ...Object.keys(value)]));
    }
    // The SINK sets every field somewhere, and reaches every object of the schema: so none is
    // known to the schema alone.
    for (const [s, keys] of setBySink) expect([...keys].sort()).toEqual(Object.keys(s.properties).sort());
    const all: Schema[] = [];
    const collect = (s: any) => {
      if (!s || typeof s !== "object") return;
      if (s.properties && s.additionalProperties === false) all.push(s);
      for (const v of Object.values(s)) collect(v);
    };
    collect(schema.properties);
    collect(schema.$defs);
    expect(all.filter((s) => !setBySink.has(s)).map((s) => Object.keys(s.properties).join(","))).toEqual([]);
  });

  it("documents drawn from the schema are accepted by the module", () => {
    const paths = leaves(SINK).filter((p) => !crossField(p));
    expect(paths.length).toBeGreaterThan(40);
    const draws = fc.record(Object.fromEntries(paths.map((p) => {
      const s = walker.at(p);
      if (!s) throw new Error(`the schema has nothing at ${show(p)}`);
      const required = (walker.at(p.slice(0, -1))?.required ?? []).includes(p.at(-1));
      return [JSON.stringify(p), required ? walker.leaf(s) : fc.option(walker.leaf(s), { nil: undefined, freq: 4 })];
    })));
    fc.assert(fc.property(draws, (values) => {
      const doc = clone(SINK);
      for (const [k, v] of Object.entries(values)) setAt(doc, JSON.parse(k), v);
      expect(schemaErrors(doc)).toEqual([]);
      expect(moduleErrors(doc)).toEqual([]);
    }), { numRuns: 150 });
  });

  it("an unknown field anywhere, or a value of the wrong type, is refused by both", () => {
    const places = objects(SINK).map((o) => o.path);
    const typed = leaves(SINK);
    const wrong = (s: Schema): fc.Arbitrary<unknown> => {
      const types = new Set([s.type, ...(s.oneOf ?? []).map((b: Schema) => b.type)].filter(Boolean));
      const all: [string, fc.Arbitrary<unknown>][] = [["string", fc.constant("zz")], ["number", fc.constant(12.5)], ["boolean", fc.constant(true)], ["object", fc.constant({ zz: 1 })], ["array", fc.constant([{ zz: 1 }])]];
      return fc.constantFrom(...all.filter(([t]) => !types.has(t) && !(t === "number" && types.has("integer")) ).map(([, a]) => a)).chain((a) => a);
    };
    fc.assert(fc.property(
      fc.oneof(
        fc.record({ kind: fc.constant("unknown" as const), at: fc.constantFrom(...places), key: fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,12}$/) }),
        fc.constantFrom(...typed).chain((p) => wrong(walker.deref(walker.at(p)!)).map((v) => ({ kind: "type" as const, at: p, value: v }))),
      ),
      (m) => {
        const doc = clone(SINK);
        if (m.kind === "unknown") {
          fc.pre(!(m.key in (walker.at(m.at)!.properties ?? {})));
          setAt(doc, [...m.at, m.key], 1);
        } else setAt(doc, m.at, m.value);
        expect(schemaErrors(doc).length, `schema, ${JSON.stringify(m)}`).toBeGreaterThan(0);
        expect(moduleErrors(doc).length, `module, ${JSON.stringify(m)}`).toBeGreaterThan(0);
      },
    ), { numRuns: 300 });
  });
});
