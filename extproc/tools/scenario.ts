// A scenario file: a policy, where the proxy runs, and what to ask of the module: what-if health
// states for `failover plan` and traffic with failure events for `failover simulate`. Each case
// inherits the scenario's top-level `policy`, `locality`, `assume`, `requests` and `upstreams`
// and may override them. The format is documented in scenarios/README.md.
//
// This file checks only the scenario's own fields. The policy is checked by the module itself when
// it is configured (tools never second-guess it); the module's error paths are traced back to the
// file and line that wrote them through `where`. The case types are in scenario-types.ts, the value
// checks in scenario-checker.ts, a simulate case's traffic and events in scenario-traffic.ts and the
// `envoy` block in scenario-envoy.ts.

import { dirname, resolve } from "node:path";
import { DocumentError, LoadedDocument, PathSegment, loadDocument } from "../module/policy-file.js";
import { policyNames } from "../module/policy-names.js";
import { Checker, isObj, Obj, Picked, show } from "./scenario-checker.js";
import { checkErrorRates, envoyOf } from "./scenario-envoy.js";
import { eventsOf, requestsOf, trafficOf, upstreamsOf } from "./scenario-traffic.js";
import type { CaseCommon, PlanCase, Scenario, SimulateCase } from "./scenario-types.js";

export * from "./scenario-types.js";
export { parseDuration, parseRate } from "./scenario-checker.js";

const TOP_FIELDS = ["description", "policy", "locality", "assume", "requests", "upstreams", "envoy", "plan", "simulate"];
const PLAN_FIELDS = ["name", "description", "policy", "locality", "assume", "requests"];
const SIMULATE_FIELDS = [...PLAN_FIELDS, "upstreams", "traffic", "events", "envoy"];

/** Where a policy document lives: its own file, or a mapping inside the scenario. */
interface PolicySource {
  doc: LoadedDocument;
  base: PathSegment[];
  value: Obj;
}

/** A case from its policy: the routing header, clusters and aggregates read off the config. */
function caseOf(c: Pick<CaseCommon, "scenario" | "name" | "description" | "config" | "where" | "requests">): CaseCommon {
  const names = policyNames(c.config);
  return { ...c, routingHeader: names.routingHeader, clusters: names.clusters, aggregates: new Map(names.aggregates.map((a) => [a.name, a.clusters])) };
}

/** True when `file` is a policy document rather than a scenario (it has no scenario fields). */
export function isBarePolicy(file: string): boolean {
  const top = loadDocument(file).value;
  return !("policy" in top || "plan" in top || "simulate" in top);
}

/**
 * A plan case straight from a policy file, with health taken as given (`failover plan POLICY
 * --assume cluster-2=5/14`); an assumption given on the command line replaces the file's own.
 */
export function policyPlanCase(file: string, assume: Obj): PlanCase {
  const doc = loadDocument(file);
  const config: Obj = { ...doc.value };
  const given = Object.keys(assume);
  if (given.length) config.assume = { ...(isObj(doc.value.assume) ? doc.value.assume : {}), ...assume };
  const where = (path: readonly PathSegment[]) =>
    path[0] === "assume" && given.includes(String(path[1])) ? `--assume ${String(path[1])}` : doc.where(path);
  const name = given.length ? `assuming ${given.map((k) => `${k} ${describeAssumption(assume[k])}`).join(", ")}` : "as written";
  return caseOf({ scenario: file, name, description: "", config, where, requests: [] });
}

function describeAssumption(a: unknown): string {
  const o = a as { healthy?: number; total?: number; score?: number; ejected?: boolean };
  if (o.ejected) return "ejected";
  if (o.score !== undefined) return `score ${o.score}`;
  return `${o.healthy}/${o.total} healthy`;
}

export function loadScenario(file: string): Scenario {
  const doc = loadDocument(file);
  const check = new Checker(doc);
  const top = doc.value;
  check.fields(top, [], TOP_FIELDS);
  const policies = new Map<string, LoadedDocument>();

  /** The value of `key` for a case: the case's own, else the scenario's; with its path. */
  const pick = (c: Obj, cpath: PathSegment[], key: string): Picked | undefined => {
    if (key in c) return { value: c[key], path: [...cpath, key] };
    if (key in top) return { value: top[key], path: [key] };
    return undefined;
  };

  const policyOf = (c: Obj, cpath: PathSegment[]): PolicySource | undefined => {
    const p = pick(c, cpath, "policy");
    if (!p) {
      check.fail(cpath, "no policy: set `policy` on the case or at the top of the scenario");
      return undefined;
    }
    if (isObj(p.value)) return { doc, base: p.path, value: p.value };
    if (typeof p.value !== "string") {
      check.fail(p.path, "expected a policy (a mapping) or the path of a policy file");
      return undefined;
    }
    const target = resolve(dirname(file), p.value);
    let loaded = policies.get(target);
    if (!loaded) {
      try {
        loaded = loadDocument(target);
      } catch (e) {
        if (!(e instanceof DocumentError)) throw e;
        check.errors.push(`${doc.where(p.path)}: ${show(p.path)}: ${e.message}`);
        return undefined;
      }
      policies.set(target, loaded);
    }
    return { doc: loaded, base: [], value: loaded.value };
  };

  const common = (c: Obj, cpath: PathSegment[]): CaseCommon | undefined => {
    const name = check.string(c.name, [...cpath, "name"]) ?? "";
    const description = c.description === undefined ? "" : (check.string(c.description, [...cpath, "description"]) ?? "");
    const source = policyOf(c, cpath);
    const locality = pick(c, cpath, "locality");
    if (locality && !isObj(locality.value)) check.fail(locality.path, "expected a mapping (region, zone, subzone, cluster, labels)");
    const assume = pick(c, cpath, "assume");
    if (assume && !isObj(assume.value)) check.fail(assume.path, "expected a mapping: cluster -> {healthy, total} | {score} | {ejected}");
    const requests = requestsOf(check, pick(c, cpath, "requests"));
    if (!source) return undefined;

    const config: Obj = { ...source.value };
    if (locality && isObj(locality.value)) config.locality = locality.value;
    const assumed = assume && isObj(assume.value) ? assume.value : {};
    if (Object.keys(assumed).length) config.assume = { ...(isObj(source.value.assume) ? source.value.assume : {}), ...assumed };

    const where = (path: readonly PathSegment[]): string => {
      if (path[0] === "locality" && locality) return doc.where([...locality.path, ...path.slice(1)]);
      if (path[0] === "assume" && assume && (path.length === 1 || String(path[1]) in assumed)) {
        return doc.where([...assume.path, ...path.slice(1)]);
      }
      return source.doc.where([...source.base, ...path]);
    };
    return caseOf({ scenario: file, name, description, config, where, requests });
  };

  const list = (key: "plan" | "simulate"): Obj[] => {
    const v = top[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      check.fail([key], "expected a list of cases");
      return [];
    }
    return v;
  };

  const plan: PlanCase[] = [];
  list("plan").forEach((c, i) => {
    if (!check.fields(c, ["plan", i], PLAN_FIELDS)) return;
    const base = common(c, ["plan", i]);
    if (base) plan.push(base);
  });

  const simulate: SimulateCase[] = [];
  list("simulate").forEach((c, i) => {
    const cpath: PathSegment[] = ["simulate", i];
    if (!check.fields(c, cpath, SIMULATE_FIELDS)) return;
    const base = common(c, cpath);
    const traffic = trafficOf(check, c.traffic, [...cpath, "traffic"]);
    if (!base) return; // without a policy there are no clusters to check the rest against
    const latencyMs = upstreamsOf(check, pick(c, cpath, "upstreams"), base.clusters);
    const events = eventsOf(check, c.events, [...cpath, "events"], base.clusters);
    const envoy = envoyOf(check, pick(c, cpath, "envoy"), base.clusters, base.config);
    checkErrorRates(check, c.events, [...cpath, "events"], envoy.clusters);
    if (base.requests.length === 0) check.fail(cpath, "a simulation needs `requests` (at least one request shape)");
    if (traffic) simulate.push({ ...base, traffic, latencyMs, events, maxConcurrentRetries: envoy.maxRetries, envoyClusters: envoy.clusters });
  });

  if (!check.errors.length && plan.length === 0 && simulate.length === 0) {
    check.fail([], "nothing to run: add `plan` or `simulate` cases");
  }
  // Shared values are checked once per case that inherits them: report each problem once.
  if (check.errors.length) throw new DocumentError([...new Set(check.errors)].join("\n"));
  return { file, description: typeof top.description === "string" ? top.description : "", plan, simulate };
}
