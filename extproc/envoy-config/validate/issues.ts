// What a check found: an error (the config would fail or misbehave) or a warning (it works, but
// something deserves a look), each at the path of the member it is about.

import { type Path, formatPath } from "./source.js";

export type Severity = "error" | "warning";

export interface Issue {
  readonly severity: Severity;
  readonly path: Path;
  readonly message: string;
}

export class Issues {
  readonly list: Issue[] = [];

  error(path: Path, message: string): void {
    this.list.push({ severity: "error", path: [...path], message });
  }

  warn(path: Path, message: string): void {
    this.list.push({ severity: "warning", path: [...path], message });
  }
}

/** `path: message`, the form every report line uses. */
export function describeIssue(issue: Issue): string {
  return `${formatPath(issue.path)}: ${issue.message}`;
}
