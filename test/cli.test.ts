// The `failover plan` and `failover simulate` command lines, run as a user runs them:
// `node dist/cli.js ...` after the build. Exit codes: 0 ok, 1 failure, 2 usage.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildFirst, cli } from "./support/cli.js";

buildFirst();

describe("failover plan", () => {
  it("prints the module's split as JSON with --json, one case with --case", () => {
    const r = cli("plan", "scenarios/003-ingress-zones.yaml", "--json", "--case", "5 of 14 healthy in zone 1");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.split).toEqual({ "user-zone1": 50, "user-zone2": 50 });
    expect(out.routes[0].priorities[0]).toMatchObject({ health: 50, load: 50 });
  });

  it("prints a table per case", () => {
    const r = cli("plan", "scenarios/004-asm-zones.yaml");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}mockb-ap-northeast-1b +100\.00% +1 +100 +failover/m);
    expect(r.stdout.match(/^route mockb \(auto\)$/gm)).toHaveLength(3);
  });

  it("exits 1 with the module's errors when it rejects the policy", () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-cli-"));
    writeFileSync(join(dir, "s.yaml"), "policy:\n  clusters: [{ name: a }]\n  routes: [{ name: r, destination: { mode: sideways } }]\nplan: [{ name: x }]\n");
    const r = cli("plan", join(dir, "s.yaml"));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/s\.yaml:3:38: failover: policy: routes\[0\]\.destination\.mode: expected auto, named or weighted, got "sideways"/);
  });
});

describe("failover simulate", () => {
  it("prints the same JSON for the same --seed", () => {
    const args = ["simulate", "scenarios/001-waypoint-cluster.yaml", "--json", "--seed", "3", "--case", "local deployment scaled to 0"];
    const a = cli(...args);
    expect(a.code).toBe(0);
    const out = JSON.parse(a.stdout);
    expect(out).toMatchObject({ seed: 3, case: "local deployment scaled to 0" });
    expect(out.events[0].failover).toBeLessThanOrEqual(1);
    expect(cli(...args).stdout).toBe(a.stdout);
  });
});

describe("errors and usage", () => {
  it("exits 1 naming the path of a scenario that cannot be read", () => {
    const r = cli("simulate", "scenarios/nope.yaml");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failover simulate: scenarios\/nope\.yaml: cannot read: ENOENT/);
  });

  it("exits 2 on usage errors", () => {
    expect(cli("plan").code).toBe(2);
    expect(cli("plan", "scenarios/003-ingress-zones.yaml", "--frobnicate").code).toBe(2);
    const seed = cli("simulate", "scenarios/003-ingress-zones.yaml", "--seed", "x");
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/--seed: expected a whole number/);
    const unknown = cli("plan", "scenarios/003-ingress-zones.yaml", "--case", "nope");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no plan case named "nope" \(cases: "10 of 14 healthy in zone 1", /);
  });

  it("lists both commands in its help", () => {
    const r = cli("help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}plan FILE/m);
    expect(r.stdout).toMatch(/^ {2}simulate SCENARIO/m);
  });
});
