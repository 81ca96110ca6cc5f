// The `failover` command as a user runs it (`node dist/cli.js ...` after the build), for the CLI
// suites: a build before the file's tests, and the command in a child process.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { beforeAll } from "vitest";
import { root } from "./wasm.js";

/** Builds what is stale before the file's tests (the CLI runs dist/). */
export function buildFirst(): void {
  beforeAll(() => {
    const r = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`build failed:\n${r.stderr}`);
  }, 120_000);
}

export function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, "dist", "cli.js"), ...args], { cwd: root, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI without blocking this process (a sidecar in this process must answer it). */
export function cliAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(root, "dist", "cli.js"), ...args], { cwd: root });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
