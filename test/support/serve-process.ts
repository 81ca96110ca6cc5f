// `failover serve` as a real child process: its JSON log lines, waits for a line, its exit.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { within } from "./wait.js";
import { root } from "./wasm.js";

export type LogLine = Record<string, unknown> & { msg: string; level: string };

export class ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: LogLine[] = [];
  /** Everything on stderr, as written (log lines and anything else). */
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [join(root, "dist", "cli.js"), "serve", ...args], { cwd: root });
    let buf = "";
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr += d.toString();
      buf += d.toString();
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text);
        } catch {
          continue; // not a log line (usage text): kept in stderr
        }
        this.lines.push(line);
        for (const w of [...this.waiters]) if (w.match(line)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /** The first log line (already seen or to come) with this message. */
  waitFor(msg: string | RegExp, ms = 20_000): Promise<LogLine> {
    const match = (l: LogLine) => (typeof msg === "string" ? l.msg === msg : msg.test(l.msg));
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    const line = new Promise<LogLine>((resolve) => this.waiters.push({ match, resolve }));
    const early = this.exited.then(({ code, signal }) => { throw new Error(`exited (${code ?? signal}) before "${msg}": ${this.stderr}`); });
    return within(Promise.race([line, early]), ms, `log line "${msg}"`);
  }

  /** The gRPC port from the "serving" line. */
  async grpcPort(): Promise<number> {
    const serving = await this.waitFor("ext_proc sidecar serving");
    return Number(String(serving.grpc).split(":").pop());
  }

  exit(ms = 20_000) {
    return within(this.exited, ms, "process exit");
  }
}
