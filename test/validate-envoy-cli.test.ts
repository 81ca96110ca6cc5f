// `failover validate-envoy` as a user runs it (`node dist/cli.js validate-envoy ...` after the
// build): its own usage, the JSON report, standard input, --crds DIR, and its exit codes.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { envoyDirFiles } from "./support/envoy-config.js";
import { crdsDir } from "./support/k8s-crds.js";
import { root } from "./support/wasm.js";

function cli(args: string[], input?: string, env?: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [join(root, "dist", "cli.js"), "validate-envoy", ...args], { cwd: root, encoding: "utf8", input, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  const r = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stderr}`);
}, 120_000);

describe("failover validate-envoy", () => {
  it("answers --help and -h with its own usage, exit 0", () => {
    for (const flag of ["--help", "-h"]) {
      const r = cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/^usage: failover validate-envoy \[options\] FILE\.\.\./);
      expect(r.stdout).toMatch(/^ {2}-o, --output FORMAT +text \(default\) or json/m);
      expect(r.stdout).toMatch(/^ {6}--crds DIR/m);
    }
  });

  it("exits 2 on an unknown option or output format, with the usage", () => {
    const r = cli(["--frobnicate", "envoy/gateway/wasm.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^validate-envoy: Unknown option '--frobnicate'/);
    expect(r.stderr).toContain("usage: failover validate-envoy");
    expect(cli(["-o", "yaml", "envoy/gateway/wasm.yaml"])).toMatchObject({ code: 2, stderr: 'validate-envoy: --output: expected text or json, got "yaml"\n' });
  });

  it("reads standard input for -", () => {
    const text = readFileSync(join(root, "envoy/kubernetes/sidecar.yaml"), "utf8");
    const ok = cli(["-"], text);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe("<stdin>: ok (Kubernetes resources; 1 policy accepted by the failover module)\nvalidate-envoy: 1 file, 0 errors, 0 warnings\n");
    const bad = cli(["-"], text.replace("replicas:", "replicaz:"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^<stdin>:\d+:\d+: error: Deployment failover\/failover-sidecar: spec\.replicaz: unknown field "replicaz" \(did you mean replicas\?\)\n$/);
  });

  it("prints one JSON report with -o json: each finding's line, column, resource, path and message", () => {
    const text = readFileSync(join(root, "envoy/istio/ingress-gateway.yaml"), "utf8").replace("failStrategy:", "failStratgy:");
    const r = cli(["-o", "json", "envoy/gateway/wasm.yaml", "-"], text);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ errors: 1, warnings: 1 });
    expect(report.files[0]).toEqual({ file: "envoy/gateway/wasm.yaml", kind: "Kubernetes resources", policies: 1, findings: [] });
    const line = text.split("\n").findIndex((l) => l.includes("failStratgy:")) + 1;
    expect(report.files[1]).toMatchObject({ file: "-", kind: "Kubernetes resources", policies: 1 });
    expect(report.files[1].findings).toEqual([
      { severity: "warning", line: expect.any(Number), column: expect.any(Number), resource: "WasmPlugin istio-system/failover", path: "spec.failStrategy", message: expect.stringMatching(/^not FAIL_OPEN/) },
      { severity: "error", line, column: 3, resource: "WasmPlugin istio-system/failover", path: "spec.failStratgy", message: 'unknown field "failStratgy" (did you mean failStrategy?)' },
    ]);
  });

  it("validates against the user's CRDs with --crds DIR: a kind it does not ship, and the shipped files against the real CRDs", () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-crds-"));
    const schema = "type: object\n          properties:\n            spec: { type: object, properties: { size: { type: integer } } }";
    writeFileSync(join(dir, "widgets.yaml"), `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: { name: widgets.example.com }\nspec:\n  group: example.com\n  names: { kind: Widget, plural: widgets }\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          ${schema}\n`);
    const widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\nspec: { size: 3, colour: red }\n";
    expect(cli(["-"], widget)).toMatchObject({ code: 1, stderr: expect.stringMatching(/kind: Widget is not a kind this validator knows; give its CustomResourceDefinition with --crds DIR\n$/) });
    const r = cli(["--crds", dir, "-"], widget);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('<stdin>:4:18: error: Widget w: spec.colour: unknown field "colour" (known here: size)\n');
    const shipped = envoyDirFiles().filter((f) => /^envoy\/(gateway|istio|kubernetes)\//.test(f));
    const real = cli(["--crds", crdsDir(), ...shipped]);
    expect(real.stderr).toBe("");
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(new RegExp(`validate-envoy: ${shipped.length} files, 0 errors, \\d+ warnings?\n$`));
    const missing = cli(["--crds", join(root, "no-such-dir"), "-"], widget);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^validate-envoy: --crds .*no-such-dir: ENOENT\n$/);
  });

  it("says so, as a warning, when promtool is not there to check a PrometheusRule's expressions", () => {
    const r = cli(["monitoring/prometheus-rule.yaml"], undefined, { PATH: "" });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^monitoring\/prometheus-rule\.yaml:\d+:\d+: warning: PrometheusRule failover\/envoy-failover: spec\.groups: rule expressions not checked: promtool is not on PATH/);
  });

  it("refuses a file of aliases that expand without bound, or nested thousands deep, with an error, not a crash", () => {
    const bomb = ["apiVersion: v1", "kind: ConfigMap", "metadata: { name: x }", "data:", '  a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]'];
    for (let i = 1; i < 12; i++) bomb.push(`  a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
    const aliases = cli(["-"], `${bomb.join("\n")}\n`);
    expect(aliases.code).toBe(1);
    expect(aliases.stderr).toBe("<stdin>:1:1: error: (file): Excessive alias count indicates a resource exhaustion attack\n");
    const deep = cli(["-"], `apiVersion: v1\nkind: Service\nmetadata: { name: x }\nspec:\n  ports: ${"[".repeat(5000)}${"]".repeat(5000)}\n`);
    expect(deep.code).toBe(1);
    expect(deep.stderr).toMatch(/^<stdin>:5:\d+: error: \(file\): .+\n$/);
  });
});
