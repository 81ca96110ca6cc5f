// Property and fuzz tests of the filter in the in-process host (the way Envoy runs it): random
// valid and invalid policies, random client header sets, random health events over several
// worker VMs sharing one SharedData, and the invariants that must hold after every step.
// Sizes and the seed: test/support/fuzz.ts (FAILOVER_LONG_TESTS=1 for the long variants).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigurationError, HttpStream, PluginVm } from "../extproc/host/index.js";
import {
  type Plan, type Policy, Workers, actions, expectDecisionValid, expectScoreZeroOnlyProbes, expectSplitsSumTo100,
  headerSet, invalidPolicy, runs, size, tryStart, validPolicy,
} from "./support/fuzz.js";
import { FAILOVER_WASM, compiled } from "./support/wasm.js";

const names = (p: Policy): string[] => p.clusters.map((c: Policy) => c.name);
const TIMEOUT = size(60_000, 1_800_000);

describe("policies", () => {
  it("accepts every valid generated policy and publishes a plan whose splits sum to 100", () => {
    fc.assert(fc.property(validPolicy, (p) => {
      const w = new Workers(p); // throws ConfigurationError (with the module's reasons) if refused
      w.expectAlive();
      expectSplitsSumTo100(w.plan());
      expectScoreZeroOnlyProbes(w.plan(), p);
    }), runs(150, 3000));
  }, TIMEOUT);

  it("refuses every invalid policy with a path for each problem, and never traps", () => {
    fc.assert(fc.property(invalidPolicy, ({ why, config }) => {
      let refused: ConfigurationError | undefined;
      try {
        new PluginVm(compiled(FAILOVER_WASM), { pluginConfig: config, logger: () => {} }).start();
      } catch (e) {
        if (!(e instanceof ConfigurationError)) throw e; // a WasmTrapError fails the property
        refused = e;
      }
      expect(refused, `accepted a policy with: ${why}`).toBeDefined();
      expect(refused!.moduleLog.length).toBeGreaterThan(0);
      for (const line of refused!.moduleLog) expect(line).toMatch(/^failover: policy: \S.*: \S/);
    }), runs(200, 5000));
  }, TIMEOUT);

  it("never traps on random JSON as a policy: it accepts it or says why not", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), fc.uint8Array({ maxLength: 64 }), (v, bytes) => {
      for (const config of [JSON.stringify(v), Buffer.concat([Buffer.from(JSON.stringify(v)), bytes])]) {
        try {
          new PluginVm(compiled(FAILOVER_WASM), { pluginConfig: config, logger: () => {} }).start();
        } catch (e) {
          if (!(e instanceof ConfigurationError)) throw e;
        }
      }
    }), runs(300, 10_000));
  }, TIMEOUT);
});

describe("requests and health events", () => {
  /** One generated scenario: a valid policy, 1-3 workers, and a sequence of actions. */
  const scenario = validPolicy.chain((p) => fc.record({
    policy: fc.constant(p),
    workers: fc.integer({ min: 1, max: 3 }),
    steps: actions(names(p), 3, size(40, 200), size(2048, 65_536)),
  }));

  it("never traps; every decision names a configured cluster the plan gives a share to; every split sums to 100", () => {
    fc.assert(fc.property(scenario, ({ policy, workers, steps }) => {
      const w = new Workers(policy, workers);
      for (const step of steps) {
        const d = w.run(step);
        w.expectAlive();
        if (d) expectDecisionValid(d, policy);
        for (let i = 0; i < workers; i++) {
          const plan = w.plan(i);
          expectSplitsSumTo100(plan);
          expectScoreZeroOnlyProbes(plan, policy);
        }
      }
      w.drain();
      w.advance(60_000);
      w.expectAlive();
    }), runs(300, 5000));
  }, TIMEOUT);

  it("weighted routes keep their weights whatever happens to health", () => {
    const weighted = validPolicy.filter((p) => p.routes.some((r: Policy) => r.destination.mode === "weighted"));
    fc.assert(fc.property(weighted.chain((p) => fc.tuple(fc.constant(p), actions(names(p), 2, size(60, 300)))), ([policy, steps]) => {
      const w = new Workers(policy, 2);
      const initial = (plan: Plan) => Object.fromEntries(plan.routes.filter((r) => r.mode === "weighted").map((r) => [r.name, r.split]));
      const expected = initial(w.plan(0));
      // The split is the weights themselves, normalized.
      for (const r of policy.routes.filter((x: Policy) => x.destination.mode === "weighted")) {
        const weights = r.destination.weights as Record<string, number>;
        const total = Object.values(weights).reduce((a, b) => a + b, 0);
        for (const [c, wt] of Object.entries(weights)) expect(Math.abs(expected[r.name][c] - (100 * wt) / total)).toBeLessThanOrEqual(0.01);
      }
      for (const step of steps) {
        w.run(step);
        for (let i = 0; i < 2; i++) expect(initial(w.plan(i))).toEqual(expected);
      }
    }), runs(60, 1000));
  }, TIMEOUT);

  it("a cluster with score 0 gets only its probe share: hammered clusters, every route kind", () => {
    // Failures only, so that scores actually reach 0 and ejections happen.
    const failing = validPolicy.chain((p) => fc.tuple(fc.constant(p), fc.array(fc.oneof(
      fc.record({ code: fc.constantFrom(500, 503, 0), flags: fc.constantFrom(0, 0x20, 0x4), n: fc.integer({ min: 1, max: 30 }) }),
      fc.integer({ min: 0, max: 40_000 }),
    ), { maxLength: size(12, 60) })));
    fc.assert(fc.property(failing, ([policy, steps]) => {
      const w = new Workers(policy, 1);
      const authority = policy.routes[0].match.authority === "*" || policy.routes[0].match.authority.startsWith("*")
        ? "svc.example.com" : policy.routes[0].match.authority;
      for (const step of steps) {
        if (typeof step === "number") w.advance(step);
        else {
          for (let i = 0; i < step.n; i++) {
            const d = w.request(0, [[":authority", authority], [":path", "/api/x"], [":method", "GET"]]);
            w.complete(d.stream, { code: step.code, flags: step.flags, attempts: 1, latencyMs: 1 });
          }
        }
        w.expectAlive();
        expectScoreZeroOnlyProbes(w.plan(), policy);
      }
    }), runs(80, 1500));
  }, TIMEOUT);
});

describe("headers", () => {
  it("survives huge, empty, binary, repeated, pseudo and oddly cased headers on request and response", () => {
    const big = size(256 * 1024, 1 << 20);
    const input = validPolicy.chain((p) => fc.tuple(fc.constant(p), fc.array(fc.tuple(headerSet(names(p), big), headerSet(names(p), 1024)), { minLength: 1, maxLength: 8 })));
    fc.assert(fc.property(input, ([policy, exchanges]) => {
      const w = new Workers(policy);
      for (const [request, response] of exchanges) {
        const d = w.request(0, request);
        expectDecisionValid(d, policy);
        const s = d.stream;
        const r = s.sendResponseHeaders(response.filter(([k]) => !k.startsWith(":")).concat([[":status", "200"]]), true);
        expect(r.failure).toBeUndefined();
        s.end({ response: { code: 200, flags: 0 } });
        w.expectAlive();
      }
    }), runs(60, 1000));
  }, TIMEOUT);

  it("keeps its memory bounded under huge header values between ticks (no trap near wasm32's 4 GiB)", () => {
    // Regression: the collector ran only every 1000 streams and on ticks, so 1000 requests with a
    // 1 MiB header left ~3.5 GiB of garbage strings in linear memory; a bigger header trapped.
    const w = new Workers({
      seed: 1, clusters: [{ name: "a", hosts: ["h"] }, { name: "b", hosts: ["h"] }],
      routes: [{ match: { authority: "h" }, destination: { mode: "auto" }, affinity: { header: "x-user" } }],
    });
    const huge = "u".repeat(size(2 << 20, 8 << 20));
    for (let i = 0; i < size(300, 1000); i++) {
      const d = w.request(0, [[":authority", "h"], [":path", "/" + huge.slice(0, 1000)], ["x-user", huge]]);
      w.complete(d.stream, { code: 200, flags: 0, attempts: 1, latencyMs: 0 });
    }
    w.expectAlive();
    expect(w.vms[0].memoryPages * 65536).toBeLessThan(256 * 1024 * 1024);
  }, TIMEOUT);

  it("routes a request with no headers at all (a catch-all route needs no authority)", () => {
    const w = new Workers({ clusters: [{ name: "a", hosts: ["*"] }], routes: [{ destination: { mode: "auto" } }] });
    const s = w.vms[0].createStream();
    s.sendRequestHeaders([], true);
    // The default route matches any authority, even none.
    expect(s.requestHeaders.get("x-failover-upstream")).toBe("a");
    s.end();
    w.expectAlive();
  });
});

describe("known issue (reported, not fixed here): a distribute rule that claims none of a route's clusters", () => {
  // Istio drops every endpoint no `to` pattern claims, which would leave such a route nothing to
  // send to. Found by the generator above: the filter then published 0% everywhere yet named a
  // cluster. It now ignores a rule that claims nothing (with a warning) and uses the ladder.
  const policy: Policy = {
    locality: { region: "r1", zone: "a" },
    clusters: [{ name: "far", region: "r3", hosts: ["h"] }],
    routes: [{ name: "r", match: { authority: "h" }, destination: { mode: "named", clusters: ["far"] },
      priority: { distribute: [{ from: "r1/*", to: { "r1/a/*": 50, "r2/*": 50 } }] } }],
  };

  it("the split of such a route sums to 100 and the chosen cluster has a share", () => {
    const w = new Workers(policy);
    const d = w.request(0, [[":authority", "h"], [":path", "/"]]);
    expect(d.plan.routes[0].split).toEqual({ far: 100 });
    expect(d.stream.requestHeaders.get("x-failover-upstream")).toBe("far");
    expectSplitsSumTo100(d.plan);
    expectDecisionValid(d, policy);
  });
});

describe("the invariant checks themselves", () => {
  // Each invariant has a test that fails when it is broken: feed the checks a broken plan or
  // decision and they must object.
  const policy: Policy = {
    locality: { region: "r1" },
    clusters: [{ name: "a", region: "r1", hosts: ["h"] }, { name: "b", region: "r2", hosts: ["h"] }],
    aggregates: [{ name: "a-then-b", clusters: ["a", "b"] }],
    routes: [{ name: "r", match: { authority: "h" }, destination: { mode: "auto" } }],
  };
  const plan = (clusters: Plan["routes"][0]["clusters"], extra: Partial<Plan["routes"][0]> = {}): Plan => ({
    generation: 1, timeMs: 0, clusters: [],
    routes: [{ name: "r", mode: "auto", panic: false, affinity: "none", priorities: [{ priority: 0, health: 100, load: 100, panic: false, clusters: ["a", "b"] }],
      split: Object.fromEntries(clusters.map((c) => [c.name, c.share])), clusters, ...extra }],
  });
  const c = (name: string, share: number, more: object = {}) => ({ name, priority: 0, share, score: 100, ejected: false, reason: "local", ...more });

  it("split sum", () => {
    expect(() => expectSplitsSumTo100(plan([c("a", 60), c("b", 40)]))).not.toThrow();
    expect(() => expectSplitsSumTo100(plan([c("a", 60), c("b", 39.99)]))).toThrow();
    expect(() => expectSplitsSumTo100(plan([c("a", 0), c("b", 0)]))).toThrow();
  });

  it("score 0 only as a probe", () => {
    const ok = plan([c("a", 1, { score: 0, ejected: true, reason: "probe", via: "a-then-b" }), c("b", 99)]);
    expect(() => expectScoreZeroOnlyProbes(ok, policy)).not.toThrow();
    expect(() => expectScoreZeroOnlyProbes(plan([c("a", 1, { score: 0, ejected: true, reason: "probe" }), c("b", 99)]), policy)).toThrow();
    expect(() => expectScoreZeroOnlyProbes(plan([c("a", 30, { score: 0, ejected: true, reason: "probe", via: "a-then-b" }), c("b", 70)]), policy)).toThrow();
    expect(() => expectScoreZeroOnlyProbes(plan([c("a", 30, { score: 0 }), c("b", 70)]), policy)).toThrow();
    // Panic is Envoy's exception.
    expect(() => expectScoreZeroOnlyProbes(plan([c("a", 50, { score: 0 }), c("b", 50, { score: 0 })], { panic: true }), policy)).not.toThrow();
  });

  it("decisions name a configured cluster with a share, once", () => {
    const w = new Workers(policy);
    const d = w.request(0, [[":authority", "h"], [":path", "/"]]);
    expect(() => expectDecisionValid(d, policy)).not.toThrow();
    const forged = (mutate: (s: HttpStream) => void) => {
      const s = w.request(0, [[":authority", "h"], [":path", "/"]]);
      mutate(s.stream);
      return () => expectDecisionValid(s, policy);
    };
    expect(forged((s) => s.requestHeaders.set("x-failover-upstream", "elsewhere"))).toThrow();
    expect(forged((s) => s.requestHeaders.add("x-failover-upstream", "a"))).toThrow();
    expect(forged((s) => s.requestHeaders.remove("x-failover-upstream"))).toThrow();
    expect(forged((s) => { s.requestHeaders.set("x-failover-upstream", "b"); s.requestHeaders.set("x-failover-cluster", "b"); })).toThrow(); // b has no share
  });
});

describe("several workers and one store", () => {
  it("all workers converge on the same view: after a quiet spell every worker publishes the same split", () => {
    fc.assert(fc.property(validPolicy.chain((p) => fc.tuple(fc.constant(p), actions(names(p), 3, size(30, 150)))), ([policy, steps]) => {
      const w = tryStart(policy, 3)!;
      for (const s of steps) w.run(s);
      w.drain();
      // A quiet spell longer than any ejection, window and slow start, then two refresh periods:
      // every worker has read the same records and nothing is left moving.
      const period = Math.max(...w.vms.map((vm) => vm.tickPeriodMs));
      w.advance(15 * 60_000);
      w.advance(2 * period);
      const splits = [0, 1, 2].map((i) => w.plan(i).routes.map((r) => r.split));
      expect(splits[1]).toEqual(splits[0]);
      expect(splits[2]).toEqual(splits[0]);
    }), runs(40, 800));
  }, TIMEOUT);
});
