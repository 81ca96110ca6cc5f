// Reading policy and scenario files: YAML or JSON, errors that name the file, line and column,
// and module error paths traced back to where they are written. No module needed.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DocumentError, loadDocument, parsePath } from "../extproc/module/policy-file.js";
import { loadScenario, parseDuration, parseRate } from "../extproc/tools/scenario.js";

const dir = mkdtempSync(join(tmpdir(), "failover-scenario-"));
let n = 0;
function file(text: string, name = `f${n++}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const error = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DocumentError);
    return (e as Error).message;
  }
  throw new Error("expected a DocumentError");
};

const POLICY = `clusters:
  - name: c1
  - name: c.v2
routes:
  - name: r
    destination:
      mode: weighted
      weights:
        c1: 50
        c.v2: 50
`;

describe("policy and scenario documents", () => {
  it("reads YAML and JSON (tab-indented too) into plain objects", () => {
    expect(loadDocument(file("a: 1\nb: [x, y]\n")).value).toEqual({ a: 1, b: ["x", "y"] });
    expect(loadDocument(file('{\n\t"a": 1,\n\t"b": {"c": true}\n}\n', "p.json")).value).toEqual({ a: 1, b: { c: true } });
  });

  it("names the file, line and column of a syntax error", () => {
    const f = file("a: 1\nb: [1, 2\nc: 3\n");
    expect(error(() => loadDocument(f))).toMatch(new RegExp(`${f.split("/").pop()}:3:1: .*\\]`));
    const j = file('{"a": 1,, "b": 2}', "bad.json");
    expect(error(() => loadDocument(j))).toMatch(/bad\.json:1:9: /);
    expect(error(() => loadDocument(file("a: 1\na: 2\n")))).toMatch(/:2:1: Map keys must be unique/);
  });

  it("wants a mapping at the top and an existing file", () => {
    expect(error(() => loadDocument(file("- 1\n- 2\n")))).toMatch(/:1:1: expected a mapping/);
    expect(error(() => loadDocument(join(dir, "missing.yaml")))).toMatch(/missing\.yaml: cannot read: ENOENT/);
  });

  it("traces a module path to the line of the member, even with dots in a key", () => {
    const doc = loadDocument(file(POLICY));
    expect(parsePath("routes[0].destination.weights.c.v2")).toEqual(["routes", 0, "destination", "weights", "c", "v2"]);
    expect(doc.where(parsePath("routes[0].destination.weights.c.v2"))).toMatch(/:10:9$/);
    expect(doc.where(parsePath("clusters[1].name"))).toMatch(/:3:5$/);
    // A path that does not exist stops at its deepest existing part.
    expect(doc.where(parsePath("routes[0].retry.numRetries"))).toMatch(/:5:5$/);
    expect(doc.where(parsePath("document"))).toMatch(/:1:1$/);
  });
});

describe("scenarios", () => {
  file(POLICY, "policy.yaml");

  it("resolves a policy file relative to the scenario and merges locality and assume per case", () => {
    const s = loadScenario(file(`policy: policy.yaml
locality: { region: r1 }
plan:
  - name: base
  - name: drained
    assume: { c1: { ejected: true } }
    locality: { region: r2 }
`));
    expect(s.plan.map((c) => c.name)).toEqual(["base", "drained"]);
    expect(s.plan[0].config).toMatchObject({ locality: { region: "r1" }, clusters: [{ name: "c1" }, { name: "c.v2" }] });
    expect(s.plan[0].config).not.toHaveProperty("assume");
    expect(s.plan[1].config).toMatchObject({ locality: { region: "r2" }, assume: { c1: { ejected: true } } });
    expect(s.plan[1].clusters).toEqual(["c1", "c.v2"]);
    // Module paths under assume and locality point into the scenario; the rest into the policy file.
    expect(s.plan[1].where(["assume", "c1", "ejected"])).toMatch(/f\d+\.yaml:6:21$/);
    expect(s.plan[1].where(["locality", "region"])).toMatch(/f\d+\.yaml:7:17$/);
    expect(s.plan[1].where(["routes", 0, "destination", "mode"])).toMatch(/policy\.yaml:7:7$/);
  });

  it("takes an inline policy and points module paths into the scenario", () => {
    const s = loadScenario(file(`plan:
  - name: inline
    policy:
      clusters: [{ name: a }]
      routes: [{ name: r, destination: { mode: named, clusters: [a] } }]
`));
    expect(s.plan[0].config).toEqual({ clusters: [{ name: "a" }], routes: [{ name: "r", destination: { mode: "named", clusters: ["a"] } }] });
    expect(s.plan[0].where(["routes", 0, "destination"])).toMatch(/:5:27$/);
  });

  it("reads a simulation: traffic, upstream latencies, events in time order, aggregates", () => {
    const p = file(`${POLICY}aggregates:\n  - name: both\n    clusters: [c1, c.v2]\nroutingHeader: X-Pick\n`, "agg.yaml");
    const s = loadScenario(file(`policy: ${p}
requests: [{ authority: a.example, headers: { X-User: u1 } }]
simulate:
  - name: sim
    upstreams: { c1: { latency: 20ms } }
    traffic: { rate: 50, duration: 2m }
    events:
      - { at: 90s, cluster: c1, recover: true }
      - { at: 500ms, cluster: c1, errorRate: 4/14 }
      - { at: 1s, cluster: c.v2, latency: 1.5s }
      - { at: 2s, cluster: c.v2, down: http-503, note: why }
    envoy:
      maxRetries: 10
      clusters:
        c1:
          endpoints: 14
          lbPolicy: RANDOM
          healthyPanicThreshold: 0
          outlierDetection: { consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100, baseEjectionTime: 30s }
`));
    const c = s.simulate[0];
    // Envoy's side: the scenario's values, Envoy's defaults for the rest and for c.v2.
    expect(c.envoyClusters.get("c1")).toMatchObject({ endpoints: 14, lbPolicy: "RANDOM", healthyPanicThreshold: 0 });
    expect(c.envoyClusters.get("c1")!.outlierDetection).toMatchObject({
      consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100, consecutive5xx: 5, enforcingConsecutive5xx: 100,
      intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 10,
    });
    expect(c.envoyClusters.get("c.v2")).toEqual({ endpoints: 1, lbPolicy: "ROUND_ROBIN", healthyPanicThreshold: 50, outlierDetection: undefined });
    expect(c.traffic).toEqual({ rate: 50, durationMs: 120_000, intervalMs: 1000, clients: 100 });
    expect([...c.latencyMs]).toEqual([["c1", 20], ["c.v2", 5]]);
    expect(c.events.map((e) => [e.atMs, e.kind])).toEqual([[500, "errorRate"], [1000, "latency"], [2000, "down"], [90_000, "recover"]]);
    expect(c.events[0]).toMatchObject({ rate: 4 / 14 });
    expect(c.events[2]).toMatchObject({ mode: "http-503", note: "why" });
    expect(c.requests).toEqual([{ method: "GET", authority: "a.example", path: "/", headers: [["x-user", "u1"]] }]);
    expect(c.routingHeader).toBe("x-pick");
    expect(c.aggregates.get("both")).toEqual(["c1", "c.v2"]);
    expect(c.maxConcurrentRetries).toBe(10);
  });

  it("refuses Envoy settings it does not model and error rates that are no whole number of endpoints", () => {
    const f = file(`policy: policy.yaml
requests: [{ authority: a.example }]
simulate:
  - name: sim
    traffic: { rate: 10, duration: 10s }
    events: [{ at: 1s, cluster: c1, errorRate: 4/14 }]
    envoy:
      clusters:
        c1: { lbPolicy: LEAST_REQUEST, outlierDetection: { successRateStdevFactor: 1900, maxEjectionTime: 1s } }
        nope: { endpoints: 2 }
`);
    let message = "";
    try {
      loadScenario(f);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/simulate\[0\]\.envoy\.clusters\.c1\.lbPolicy: expected one of: ROUND_ROBIN, RANDOM/);
    expect(message).toMatch(/outlierDetection\.successRateStdevFactor: unknown field/);
    expect(message).toMatch(/outlierDetection\.maxEjectionTime: Envoy refuses a max_ejection_time smaller than base_ejection_time/);
    expect(message).toMatch(/envoy\.clusters\.nope: not a cluster of the policy/);
    expect(message).toMatch(/events\[0\]\.errorRate: 4\/14 of 1 endpoints is not a whole number of endpoints/);
  });

  it("reports every problem with its line and path", () => {
    const f = file(`policy: policy.yaml
extra: 1
simulate:
  - name: bad
    traffic: { rate: 0, duration: soon }
    requests: [{ path: /x }]
    events:
      - { at: 1s, cluster: nope, down: sideways }
      - { at: 2s, cluster: c1, recover: true, latency: 1s }
`);
    const lines = error(() => loadScenario(f)).split("\n");
    expect(lines).toEqual([
      expect.stringMatching(/:2:1: extra: unknown field \(expected one of: description, policy, /),
      expect.stringMatching(/:6:16: simulate\[0\]\.requests\[0\]\.authority: expected a non-empty string$/),
      expect.stringMatching(/:5:16: simulate\[0\]\.traffic\.rate: expected requests per second/),
      expect.stringMatching(/:5:25: simulate\[0\]\.traffic\.duration: expected a duration such as "500ms"/),
      expect.stringMatching(/:8:19: simulate\[0\]\.events\[0\]\.cluster: not a cluster of the policy \(c1, c\.v2\)$/),
      expect.stringMatching(/:8:34: simulate\[0\]\.events\[0\]\.down: expected one of: no-healthy-upstream, connect-refused, http-503$/),
      expect.stringMatching(/:9:9: simulate\[0\]\.events\[1\]: give exactly one of down, errorRate, latency, recover$/),
      expect.stringMatching(/:4:5: simulate\[0\]: a simulation needs `requests`/),
    ]);
  });

  it("names the scenario line when the policy file is missing or broken", () => {
    const missing = error(() => loadScenario(file("policy: nowhere.yaml\nplan: [{ name: x }]\n")));
    expect(missing).toMatch(/:1:1: policy: .*nowhere\.yaml: cannot read: ENOENT/);
    const broken = file("clusters: [\n", "broken.yaml");
    expect(error(() => loadScenario(file(`policy: ${broken}\nplan: [{ name: x }]\n`)))).toMatch(/broken\.yaml:2:1: /);
  });

  it("needs something to run", () => {
    expect(error(() => loadScenario(file("policy: policy.yaml\n")))).toMatch(/nothing to run: add `plan` or `simulate` cases/);
  });
});

describe("values", () => {
  it("parses durations and shares", () => {
    expect(["500ms", "90s", "2m", "1h", "1.5s", 250].map(parseDuration)).toEqual([500, 90_000, 120_000, 3_600_000, 1500, 250]);
    expect(["5", "s", "-1s", "1d", -5].map(parseDuration)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect([0.25, "4/14", "25%", "0/3"].map(parseRate)).toEqual([0.25, 4 / 14, 0.25, 0]);
    expect([1.5, "5/4", "120%", "x", "1/0"].map(parseRate)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it("reads durations in the module's grammar (assembly/policy/duration.ts): fractions either side, nothing around", () => {
    expect([".5s", "1.s", "0ms", "1.25m"].map(parseDuration)).toEqual([500, 1000, 0, 75_000]);
    expect([" 5s", "5s ", ".s", "5 s", "5S"].map(parseDuration)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});
