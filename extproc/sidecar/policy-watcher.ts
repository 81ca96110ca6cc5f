// Watches the policy file and offers a new version only once it has settled: read twice, at
// least settleMs apart, with the same size, mtime and sha256. A writer that is still writing (or
// a file cut short, then completed) is seen to change and waits. The path is resolved through
// symlinks on every poll, so a Kubernetes ConfigMap update (the kubelet writes a new directory,
// then swaps the `..data` symlink) is seen as one new version. Writers should still write a new
// file and rename it into place, which no reader can see half-written.

import { createHash } from "node:crypto";
import { readFileSync, realpathSync, statSync } from "node:fs";

/** One observed version of the policy file. */
export interface FileVersion {
  /** The file the path resolves to (through every symlink, `..data` included). */
  real: string;
  size: number;
  mtimeMs: number;
  /** sha256 of the file's bytes, hex; of its size only when it is over maxBytes (never served). */
  sha256: string;
}

/** Reads the version at `file` (throws when it cannot be read). */
export function readVersion(file: string, maxBytes = Infinity): FileVersion {
  const real = realpathSync(file);
  const st = statSync(real);
  if (st.size > maxBytes) return { real, size: st.size, mtimeMs: st.mtimeMs, sha256: `oversize:${st.size}` };
  const bytes = readFileSync(real);
  return { real, size: bytes.length, mtimeMs: st.mtimeMs, sha256: createHash("sha256").update(bytes).digest("hex") };
}

export const sameVersion = (a: FileVersion | undefined, b: FileVersion | undefined) =>
  !!a && !!b && a.real === b.real && a.size === b.size && a.mtimeMs === b.mtimeMs && a.sha256 === b.sha256;

export interface WatcherOptions {
  /** How often the file is looked at (ms; 0: only when checkNow() is called, e.g. on SIGHUP). */
  pollMs: number;
  /** How long a version must stay unchanged before it is offered (ms). */
  settleMs: number;
  /** Larger files are not read (their reload fails on the size alone). */
  maxBytes?: number;
  /** A settled version that differs from the last one offered (or the one serving at start). */
  onSettled(version: FileVersion): void;
  /** Each poll that finds the last offered version still there. */
  onUnchanged?(version: FileVersion): void;
  /** The file could not be read (reported once per distinct error until it can be read again). */
  onUnreadable(error: Error): void;
}

export class PolicyWatcher {
  private offered: FileVersion | undefined;
  private pending: { version: FileVersion; at: number } | undefined;
  private lastError = "";
  private interval: NodeJS.Timeout | undefined;
  private readonly settleTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly file: string, private readonly options: WatcherOptions, serving?: FileVersion) {
    this.offered = serving;
    if (options.pollMs > 0) {
      this.interval = setInterval(() => this.poll(), options.pollMs);
      this.interval.unref();
    }
  }

  /** Looks now, and offers the settled file even if it is the version last offered (SIGHUP). */
  checkNow(): void {
    this.offered = undefined;
    this.poll();
  }

  stop(): void {
    clearInterval(this.interval);
    for (const t of this.settleTimers) clearTimeout(t);
    this.settleTimers.clear();
  }

  private poll(): void {
    let version: FileVersion;
    try {
      version = readVersion(this.file, this.options.maxBytes);
    } catch (e) {
      this.pending = undefined;
      if ((e as Error).message !== this.lastError) this.options.onUnreadable(e as Error);
      this.lastError = (e as Error).message;
      return;
    }
    this.lastError = "";
    if (sameVersion(version, this.offered)) {
      this.pending = undefined;
      this.options.onUnchanged?.(version);
      return;
    }
    const now = Date.now();
    if (this.pending && sameVersion(this.pending.version, version)) {
      if (now - this.pending.at >= this.options.settleMs) {
        this.pending = undefined;
        this.offered = version;
        this.options.onSettled(version);
      }
      return;
    }
    // New or still changing: look again once it could have settled.
    this.pending = { version, at: now };
    const t = setTimeout(() => {
      this.settleTimers.delete(t);
      this.poll();
    }, this.options.settleMs + 1);
    t.unref();
    this.settleTimers.add(t);
  }
}
