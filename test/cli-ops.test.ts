// The operator's commands, run as a user runs them (`node dist/cli.js ...`): every subcommand's own
// --help, --version, `validate POLICY`, `plan POLICY --assume`, and `status` against a live sidecar.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readPolicy } from "../extproc/sidecar/command.js";
import { buildFirst, cli, cliAsync } from "./support/cli.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { root } from "./support/wasm.js";

buildFirst();

const VERSION = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

describe("help and version", () => {
  // validate-envoy answers --help with its own code (extproc/envoy-config/validate/command.ts).
  for (const command of ["serve", "plan", "simulate", "validate", "status", "image"]) {
    for (const flag of ["--help", "-h"]) {
      it(`${command} ${flag} prints its own usage and exits 0`, () => {
        const r = cli(command, flag);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^usage: failover ${command}\\b`));
        // Its own usage only: no other command's line.
        expect(r.stdout).not.toMatch(/^ {2}(serve|simulate|validate-envoy) /m);
      });
    }
  }

  it("--help after other options still prints the usage (no side effect)", () => {
    const r = cli("serve", "--port", "1", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--max-streams N/);
  });

  it("--version prints the package's version", () => {
    expect(cli("--version")).toEqual({ code: 0, stdout: `failover ${VERSION}\n`, stderr: "" });
  });

  it("the top-level help lists every command", () => {
    const r = cli("--help");
    expect(r.code).toBe(0);
    for (const c of ["serve", "plan", "simulate", "validate", "status", "image", "validate-envoy"]) expect(r.stdout).toMatch(new RegExp(`^ {2}${c} `, "m"));
  });
});

describe("failover validate POLICY", () => {
  it("accepts every example policy", () => {
    const r = cli("validate", "examples/edge-auto.yaml", "examples/ingress-user.yaml");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("examples/edge-auto.yaml: ok (2 clusters, 1 route)\nexamples/ingress-user.yaml: ok (2 clusters, 1 route)\n");
  });

  it("names every problem with file:line:column, and exits 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-validate-"));
    const file = join(dir, "p.yaml");
    writeFileSync(file, "clusters:\n  - name: a\n    hosts: [h]\nroutes:\n  - match: { authority: h }\n    destination: { mode: named, clusters: [a, b] }\n    bogus: 1\n");
    const r = cli("validate", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${file}:7:5: failover: policy: routes[0].bogus: unknown field (expected one of: name, match, destination, priority, retry, affinity)\n` +
      `${file}:6:47: failover: policy: routes[0].destination.clusters[1]: unknown cluster "b"\n`,
    );
  });

  it("reports a YAML error at its line, and refuses a scenario", () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-validate-"));
    writeFileSync(join(dir, "broken.yaml"), "clusters: [\n");
    const broken = cli("validate", join(dir, "broken.yaml"));
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(new RegExp(`^${join(dir, "broken.yaml")}:2:1: `));
    const scenario = cli("validate", "scenarios/003-ingress-zones.yaml");
    expect(scenario.code).toBe(1);
    expect(scenario.stderr).toMatch(/^scenarios\/003-ingress-zones.yaml:1:1: this is a scenario, not a policy/);
  });
});

describe("failover plan POLICY --assume", () => {
  it("gives the split the scenario's own case gives for the same assumption", () => {
    const bare = cli("plan", "examples/ingress-user.yaml", "--assume", "user-zone1=5/14", "--json");
    expect(bare.stderr).toBe("");
    const scenario = cli("plan", "scenarios/003-ingress-zones.yaml", "--case", "5 of 14 healthy in zone 1", "--json");
    expect(JSON.parse(bare.stdout).split).toEqual({ "user-zone1": 50, "user-zone2": 50 });
    expect(JSON.parse(bare.stdout).routes).toEqual(JSON.parse(scenario.stdout).routes);
  });

  it("takes score:N and ejected, several at once", () => {
    const r = cli("plan", "examples/edge-auto.yaml", "--assume", "cluster-1=ejected", "--assume", "cluster-2=score:80", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.case).toBe("assuming cluster-1 ejected, cluster-2 score 80");
    expect(out.split).toEqual({ "cluster-1": 0, "cluster-2": 100 });
  });

  it("rejects a malformed assumption (exit 2) and an unknown cluster with the module's words (exit 1)", () => {
    const bad = cli("plan", "examples/edge-auto.yaml", "--assume", "cluster-1=half");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^failover plan: --assume "cluster-1=half": expected CLUSTER=H\/T/);
    const unknown = cli("plan", "examples/edge-auto.yaml", "--assume", "cluster-9=1/2");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/--assume cluster-9: failover: policy: assume\.cluster-9: unknown cluster "cluster-9"/);
  });
});

describe("failover status", () => {
  const start = sidecarHarness({ policy: readPolicy("examples/ingress-user.yaml"), adminPort: 0 });

  it("prints a live sidecar's plan as the same table `plan` prints", async () => {
    const { sidecar } = await start();
    const status = await cliAsync("status", "--admin", `http://127.0.0.1:${sidecar.adminPort}`);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    const plan = cli("plan", "examples/ingress-user.yaml");
    const tables = (out: string) => out.slice(out.indexOf("proxy locality:"));
    expect(tables(status.stdout)).toBe(tables(plan.stdout));
    expect(status.stdout).toMatch(new RegExp(`^sidecar http://127\\.0\\.0\\.1:${sidecar.adminPort}\\n`));
  });

  it("says clearly when nothing answers (exit 1)", async () => {
    const { sidecar } = await start();
    const port = sidecar.adminPort;
    await sidecar.close();
    const r = await cliAsync("status", "--admin", `http://127.0.0.1:${port}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^failover status: http://127\\.0\\.0\\.1:${port}/debug/clusters: no answer \\(ECONNREFUSED\\)`));
  });
});
