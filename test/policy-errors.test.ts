// Operator input that cannot hurt, and errors that say what and where: the real module's policy
// checks (numbers as written, names and headers it refuses, duplicate routes, authorities with a
// bad port) and the file front end (nesting, keys that are not names, file:line:column).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigurationError, PluginVm } from "../extproc/host/index.js";
import { DocumentError, loadDocument, locatePolicyErrors } from "../extproc/module/policy-file.js";
import { Failover } from "./support/failover.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { FAILOVER_WASM, compiled } from "./support/wasm.js";

const base = {
  clusters: [{ name: "a", hosts: ["svc"] }, { name: "b", hosts: ["svc"] }],
  routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "auto" } }],
};
/** The module's error lines for a policy given as JSON text, exactly as written. */
function rejected(text: string): string[] {
  try {
    new PluginVm(compiled(FAILOVER_WASM), { pluginConfig: text, vmId: "failover", logger: () => {} }).start();
  } catch (e) {
    if (e instanceof ConfigurationError) return e.moduleLog;
    throw e;
  }
  return [];
}
const policy = (extra: object) => JSON.stringify({ ...base, ...extra });

describe("numbers in messages are printed as written", () => {
  it("seed: 1e308 says 1e308 (was 9223372036854775.807), and the bound in full", () => {
    const lines = rejected(policy({}).replace(/^\{/, '{"seed": 1e308,'));
    expect(lines).toEqual(["failover: policy: seed: must be between 0 and 9007199254740991, got 1e308"]);
  });

  it.each([["-0.50", "must be between 0 and 100, got -0.50"], ["1E3", "must be between 0 and 100, got 1E3"]])("%s", (n, msg) => {
    const text = policy({}).replace(/^\{/, `{"health": {"panicThreshold": ${n}},`);
    expect(rejected(text)).toEqual([`failover: policy: health.panicThreshold: ${msg}`]);
  });

  it("a fraction where a whole number belongs is quoted as written", () => {
    const text = policy({}).replace(/^\{/, '{"health": {"minRequests": 2.50},');
    expect(rejected(text)).toEqual(["failover: policy: health.minRequests: must be a whole number, got 2.50"]);
  });
});

describe("refused: names and headers that would mean something else", () => {
  it.each([
    "cookie", "host", "authorization", "content-length", "te", "connection", "transfer-encoding", "x-envoy-max-retries",
    "x-envoy-original-path", "x-forwarded-for",
  ])("routingHeader %s", (h) => {
    expect(rejected(policy({ routingHeader: h }))).toEqual([
      `failover: policy: routingHeader: "${h}" has a meaning to Envoy or HTTP`,
    ]);
  });

  it.each([":authority", ":path", "Bad Header", ""])("routingHeader %j is not a header name", (h) => {
    expect(rejected(policy({ routingHeader: h }))[0]).toMatch(/^failover: policy: routingHeader: not a valid header name/);
  });

  it.each([["NUL", "a\u0000b"], ["CR", "a\rb"], ["LF", "a\nb"], ["space", "a b"], ["tab", "a\tb"], ["DEL", "a\u007fb"]])(
    "a cluster, aggregate or route name with %s", (_, bad) => {
      const msg = "no spaces or control characters in a name, got";
      expect(rejected(policy({ clusters: [{ name: bad, hosts: ["svc"] }, base.clusters[1]] }))).toContainEqual(expect.stringContaining(`clusters[0].name: ${msg}`));
      expect(rejected(policy({ aggregates: [{ name: bad, clusters: ["a", "b"] }] }))).toContainEqual(expect.stringContaining(`aggregates[0].name: ${msg}`));
      expect(rejected(policy({ routes: [{ ...base.routes[0], name: bad }] }))).toContainEqual(expect.stringContaining(`routes[0].name: ${msg}`));
    });

  it("Istio's cluster names (outbound|port||host) and UTF-8 names stay valid", () => {
    for (const name of ["outbound|9080||reviews.default.svc.cluster.local", "zürich-1"]) {
      expect(rejected(policy({ clusters: [{ name, hosts: ["svc"] }] }))).toEqual([]);
    }
  });

  it("two routes with the same name", () => {
    const routes = [base.routes[0], { ...base.routes[0], match: { authority: "other" }, destination: { mode: "named", clusters: ["a"] } }];
    expect(rejected(policy({ routes }))).toEqual(['failover: policy: routes[1].name: duplicate route "svc" (routes[0])']);
    // Unnamed routes get distinct names and stay valid.
    expect(rejected(policy({ routes: routes.map(({ name: _, ...r }) => r) }))).toEqual([]);
  });
});

describe("an authority with an invalid port matches no route", () => {
  const f = new Failover({ ...base, routes: [{ name: "any", match: { authority: "*" }, destination: { mode: "named", clusters: ["a"] } }] });
  const g = new Failover(base);
  it.each(["svc:abc", "svc:", "svc:0", "svc:65536", "svc:123456", "svc:80:80", "svc: 80", "[::1]:x", "::1"])("%j", (authority) => {
    for (const fo of [f, g]) {
      const s = fo.request(authority);
      expect(s.requestHeaders.get("x-failover-reason")).toBe("no-route");
      expect(s.requestHeaders.get("x-failover-upstream")).toBeUndefined();
    }
  });
  it.each(["svc", "svc:8080", "SVC:1", "svc:65535"])("%j still routes", (authority) => {
    expect(g.request(authority).requestHeaders.get("x-failover-upstream")).toMatch(/^[ab]$/);
  });
  it("an IPv6 literal with a port routes on the wildcard", () => {
    expect(f.request("[2001:db8::1]:8443").requestHeaders.get("x-failover-upstream")).toBe("a");
  });
});

describe("policy files: nesting, keys and positions", () => {
  const dir = mkdtempSync(join(tmpdir(), "failover-policy-errors-"));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const head = "clusters:\n  - {name: a, hosts: [svc]}\nroutes:\n  - {name: r, match: {authority: svc}, destination: {mode: auto}}\n";

  it("deep nesting is reported as nesting, at its place, within the filter's 64 levels", () => {
    const p = file("deep.yaml", `${head}health:\n  window: ${"[".repeat(3000)}${"]".repeat(3000)}\n`);
    expect(() => loadDocument(p)).toThrow(DocumentError);
    expect(() => loadDocument(p)).toThrow(/deep\.yaml:6:\d+: nested too deeply to read \(the filter allows 64 levels of mappings and lists\)$/);
    const q = file("deep65.yaml", `${head}extra: ${"{a: ".repeat(70)}1${"}".repeat(70)}\n`);
    expect(() => loadDocument(q)).toThrow(/deep65\.yaml:5:\d+: nested deeper than 64 levels of mappings and lists$/);
    expect(String((() => { try { loadDocument(q); } catch (e) { return (e as Error).message; } })()).length).toBeLessThan(200);
  });

  it("a key that is a mapping or list is refused short, not turned into a kilobytes-long unknown field", () => {
    const p = file("key.yaml", `${head}? ${"[".repeat(200)}x${"]".repeat(200)}\n: 1\n`);
    let message = "";
    try {
      loadDocument(p);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/key\.yaml:5:3: a key must be a plain name, not a mapping or a list$/);
    expect(message.length).toBeLessThan(200);
  });

  it("the module's errors carry the file's line and column", () => {
    const p = file("bad.yaml", `${head}health:\n  outlierDetection:\n    minSources: 12\n`);
    const json = JSON.stringify(loadDocument(p).value);
    const lines = rejected(json);
    expect(locatePolicyErrors(p, json, lines)).toEqual([
      `${p}:7:5: failover: policy: health.outlierDetection.minSources: must be between 1 and 7, got 12`,
    ]);
    // A file that changed since: no position rather than a wrong one.
    expect(locatePolicyErrors(p, json.replace("12", "13"), lines)).toEqual(lines);
  });

  const start = sidecarHarness({ policy: JSON.stringify(base), clock: () => 1_800_000_000_000n * 1_000_000n });
  it("a rejected reload in the sidecar logs each problem with file:line:column", async () => {
    const p = file("served.yaml", `${head}`);
    const { sidecar, logger } = await start({ policyFile: p, readPolicy: (f) => JSON.stringify(loadDocument(f).value) });
    writeFileSync(p, `${head}routingHeader: cookie\n`);
    expect(sidecar.reload()).toBe(false);
    const line = logger.lines.find((l) => l.msg.includes("rejected"));
    // The module's own lines stay as they are; `located` prefixes each with where it is written.
    expect(line?.fields?.problems).toEqual(['failover: policy: routingHeader: "cookie" has a meaning to Envoy or HTTP']);
    expect(line?.fields?.located).toEqual([`${p}:5:1: failover: policy: routingHeader: "cookie" has a meaning to Envoy or HTTP`]);
  });
});
