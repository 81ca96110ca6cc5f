// Every shell example of the README and docs/ that can run on this machine, run, and its output
// compared with what the page shows. A `text` block with `$ ` lines is a transcript: the lines
// after a command are its output, an excerpt (it may start and end anywhere) in which `...` marks
// omitted lines. A `sh` block lists commands: they must succeed. Commands that need what this
// machine lacks (Envoy, a container engine, a cluster, your registry) are listed below with the
// reason; a command that matches no rule fails the test, so a new example gets a decision.
// The sidecar the examples talk to is `failover serve` as `npm start` runs it, on free ports.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFirst } from "./support/cli.js";
import { root } from "./support/wasm.js";

const PAGES = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`), "scenarios/README.md"];

interface Example { page: string; line: number; command: string; shown?: string[] }

/** The shell examples of a Markdown page. */
export function examples(page: string, text: string): Example[] {
  const out: Example[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)```(sh|text)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const indent = fence[1].length;
    const body: { n: number; text: string }[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) body.push({ n: i + 1, text: lines[i].slice(indent) });
    if (fence[2] === "sh") {
      for (let j = 0; j < body.length; j++) {
        let cmd = body[j].text;
        const n = body[j].n;
        while (cmd.endsWith("\\") && j + 1 < body.length) cmd = cmd.slice(0, -1) + " " + body[++j].text.trim();
        cmd = cmd.trim();
        if (cmd && !cmd.startsWith("#")) out.push({ page, line: n, command: cmd.replace(/\s+#.*$/, "") });
      }
    } else if (body.some((b) => b.text.startsWith("$ "))) {
      let current: Example | undefined;
      for (const b of body) {
        if (b.text.startsWith("$ ")) {
          current = { page, line: b.n, command: b.text.slice(2).trim(), shown: [] };
          out.push(current);
        } else current?.shown!.push(b.text);
      }
    }
  }
  return out;
}

/** Why a command cannot run here, or null when it runs. */
const RULES: [RegExp, string | null][] = [
  [/^npm start\b/, "runs until stopped, on fixed ports: the test runs the same `failover serve` on free ports instead"],
  [/^npm (test|run build)\b|vitest/, "the suite itself builds and runs the tests"],
  [/^docker /, "no container engine on this machine"],
  [/^curl .*:10000\//, "needs a running Envoy (none can be installed here)"],
  [/^failover serve .*&$/, "runs beside Envoy on fixed ports"],
  [/^kubectl /, "needs a Kubernetes cluster"],
  [/\bREGISTRY\//, "needs your registry (test/wasm-image.test.ts pushes to a loopback docker-registry)"],
  [/^promtool /, null],
  [/^(npx )?failover /, null],
  [/^curl -s localhost:9902\//, null],
];
const reason = (cmd: string) => RULES.find(([re]) => re.test(cmd));

/** Does `actual` contain the shown excerpt (contiguous runs separated by `...`, in order)? */
export function containsExcerpt(actual: string, shown: string[]): string | null {
  const a = actual.split("\n").map((l) => l.trimEnd());
  const s = [...shown];
  while (s.length && s.at(-1)!.trim() === "") s.pop();
  const runs: string[][] = [[]];
  for (const l of s) (l.trim() === "..." ? runs.push([]) : runs.at(-1)!.push(l.trimEnd()));
  let from = 0;
  for (const run of runs.filter((r) => r.length)) {
    let found = -1;
    for (let i = from; i + run.length <= a.length && found < 0; i++) if (run.every((l, k) => a[i + k] === l)) found = i;
    if (found < 0) return `not found in the output (from line ${from + 1}):\n${run.join("\n")}\n--- output ---\n${actual}`;
    from = found + run.length;
  }
  return null;
}

let bin: string;
let sidecar: ChildProcess | undefined;
let adminPort = 0;

buildFirst();
beforeAll(async () => {
  bin = mkdtempSync(join(tmpdir(), "failover-readme-"));
  writeFileSync(join(bin, "failover"), `#!/bin/sh\nexec "${process.execPath}" "${join(root, "dist", "cli.js")}" "$@"\n`);
  chmodSync(join(bin, "failover"), 0o755);
  // What `npm start` runs (after its build): the default policy, here on free ports.
  const proc = spawn(process.execPath, [join(root, "dist", "cli.js"), "serve", "--port", "0", "--admin-port", "0"], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
  sidecar = proc;
  adminPort = await new Promise<number>((resolve, reject) => {
    let err = "";
    proc.stderr!.on("data", (d) => {
      err += d;
      const m = /"msg":"ext_proc sidecar serving".*"admin":"127\.0\.0\.1:(\d+)"/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    proc.on("exit", (code) => reject(new Error(`failover serve exited ${code}: ${err}`)));
  });
}, 120_000);

afterAll(() => {
  sidecar?.kill("SIGTERM");
  if (bin) rmSync(bin, { recursive: true, force: true });
});

const all = PAGES.flatMap((p) => examples(p, readFileSync(join(root, p), "utf8")));

describe("the shell examples of the README and docs/", () => {
  it("are all classified: run here, or a stated reason why not", () => {
    expect(all.filter((e) => !reason(e.command)).map((e) => `${e.page}:${e.line}: ${e.command}`)).toEqual([]);
    expect(all.filter((e) => reason(e.command)![1] === null).length).toBeGreaterThanOrEqual(10);
  });

  for (const e of all.filter((e) => reason(e.command)?.[1] === null)) {
    it(`${e.page}:${e.line}: ${e.command}`, () => {
      let cmd = e.command.replace(/^npx failover /, "failover ").replaceAll("localhost:9902", `127.0.0.1:${adminPort}`);
      if (/^failover status\b/.test(cmd) && !cmd.includes("--admin")) cmd += ` --admin http://127.0.0.1:${adminPort}`;
      const r = spawnSync("bash", ["-o", "pipefail", "-c", cmd], {
        cwd: root, encoding: "utf8", timeout: 120_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      expect(r.status, `${cmd}\n${r.stderr}`).toBe(0);
      if (e.shown?.length) {
        const out = r.stdout.replaceAll(`127.0.0.1:${adminPort}`, "127.0.0.1:9902");
        expect(containsExcerpt(out, e.shown)).toBeNull();
      }
    }, 120_000);
  }
});

describe("the excerpt comparison", () => {
  it("accepts an excerpt with omissions and refuses a changed line or a wrong order", () => {
    const out = "a\nb\nc\nd\ne\n";
    expect(containsExcerpt(out, ["b", "c", "...", "e"])).toBeNull();
    expect(containsExcerpt(out, ["b", "d"])).not.toBeNull();
    expect(containsExcerpt(out, ["d", "...", "b"])).not.toBeNull();
    expect(containsExcerpt(out, ["b", "x"])).not.toBeNull();
  });
});
