// Real tools the operator's-kit tests run (Debian packages that .ci/run installs), and a free
// loopback port for the servers they start.
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";

/** Path of `command`; throws naming the Debian package when it is missing (never skips). */
export function tool(command: string, debianPackage: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error(`${command} not found: install Debian's ${debianPackage} (apt-get install -y ${debianPackage}; .ci/run does)`);
  return path;
}

/** Runs a tool to completion; stdout, stderr and the exit code. */
export function run(command: string, args: string[], input?: string) {
  const r = spawnSync(command, args, { encoding: "utf8", input, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A loopback port nothing listens on right now (for servers that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
