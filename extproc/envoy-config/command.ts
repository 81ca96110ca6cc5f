// `failover validate-envoy FILE...`: validates each file (see validate.ts) and prints one line
// per finding, `file:line:column: severity: [resource: ]path: message`, then a summary. Exit code
// 0 when no file has an error (warnings are reported but pass), 1 otherwise.

import { relative } from "node:path";
import { type FileReport, validateFile } from "./validate.js";

export async function validateEnvoyCommand(files: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (!files.length) {
    err("validate-envoy: give the files to check (Envoy bootstraps, Kubernetes resources, failover policies)\n");
    return 1;
  }
  let errors = 0;
  let warnings = 0;
  for (const file of files) {
    const report = await validateFile(file);
    const name = display(file);
    for (const f of report.findings) {
      const line = `${name}:${f.where}: ${f.severity}: ${f.subject ? `${f.subject}: ` : ""}${f.path}: ${f.message}\n`;
      if (f.severity === "error") {
        errors++;
        err(line);
      } else {
        warnings++;
        out(line);
      }
    }
    if (!report.findings.some((f) => f.severity === "error")) out(`${name}: ok (${summary(report)})\n`);
  }
  out(`validate-envoy: ${files.length} file${files.length === 1 ? "" : "s"}, ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}\n`);
  return errors ? 1 : 0;
}

function summary(r: FileReport): string {
  return `${r.kind}${r.policies ? `; ${r.policies} polic${r.policies === 1 ? "y" : "ies"} accepted by the failover module` : ""}`;
}

/** Paths relative to the working directory when that is shorter. */
function display(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && rel.length < file.length ? rel : file;
}
