// The envoy/ generator's command line: a mistyped option is a usage error that writes nothing
// (it used to fall through to "write every file").
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const generate = (...args: string[]) => spawnSync(process.execPath, ["dist/envoy-config/generate/index.js", ...args], { encoding: "utf8" });

/** Runs `check` with a fresh --out folder, removed afterwards. */
function withOut(check: (out: string) => void) {
  const out = mkdtempSync(join(tmpdir(), "gen-"));
  try {
    check(out);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

describe("generate (envoy/ from topology.ts)", () => {
  it("answers --help with its usage and writes nothing", () => {
    withOut((out) => {
      const r = generate("--help", "--out", out);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: .*--check.*--envoy-version.*--out/);
      expect(readdirSync(out)).toEqual([]);
    });
  });

  it("refuses a mistyped option before writing anything", () => {
    withOut((out) => {
      const r = generate("--chekc", "--out", out);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("Unknown option '--chekc'");
      expect(readdirSync(out)).toEqual([]);
    });
  });

  it("writes every file for an older release into --out", () => {
    withOut((out) => {
      const r = generate("--envoy-version", "1.32", "--out", out);
      expect(r.status).toBe(0);
      const edge = readFileSync(join(out, "envoy", "edge-wasm.yaml"), "utf8");
      expect(edge).toContain("fail_open: true"); // 1.32 has no failure_policy
      expect(edge).not.toContain("failure_policy");
    });
  });
});
