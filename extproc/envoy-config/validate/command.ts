// `failover validate-envoy [options] FILE...`: validates each file (see index.ts; `-` is
// standard input) and prints one line per finding, `file:line:column: severity: [resource: ]path:
// message`, then a summary; or, with `-o json`, one JSON report. Exit code 0 when no file has an
// error (warnings are reported but pass), 1 otherwise, 2 for a usage error.

import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { type FileReport, type Finding, type ValidateOptions, validateFile, validateText } from "./index.js";
import { CURRENT_ENVOY, parseVersion } from "../versions.js";

export const VALIDATE_ENVOY_USAGE = `usage: failover validate-envoy [options] FILE...

Checks Envoy bootstraps (decoded strictly with Envoy's own protos, then cross-checked), files of
Kubernetes resources (Istio, Envoy Gateway, Gateway API, prometheus-operator and core kinds: every
field, type and enum against the kind's schema, then the checks of each kind) and failover
policies; every policy found is run through the failover module. FILE - reads standard input.

options:
  -o, --output FORMAT  text (default) or json: {"files": [{"file", "kind", "policies",
                       "findings": [{"severity", "line", "column", "resource", "path",
                       "message"}]}], "errors", "warnings"}
      --crds DIR       also know the kinds of the CustomResourceDefinitions in DIR (YAML or
                       JSON files); they take precedence over the schemas built in
      --envoy-version V  the Envoy release the files are for (default ${CURRENT_ENVOY}): fields V
                       does not know are errors, what degrades there is a warning
  -h, --help           this text

exit status: 0 no errors (warnings allowed), 1 errors, 2 usage error
`;

export async function validateEnvoyCommand(args: string[], out: (s: string) => void, err: (s: string) => void, stdin: () => Promise<string> = readStdin): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: "string", short: "o", default: "text" }, crds: { type: "string" }, "envoy-version": { type: "string" }, help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    err(`validate-envoy: ${(e as Error).message}\n\n${VALIDATE_ENVOY_USAGE}`);
    return 2;
  }
  const { values, positionals: files } = parsed;
  if (values.help) {
    out(VALIDATE_ENVOY_USAGE);
    return 0;
  }
  if (values.output !== "text" && values.output !== "json") {
    err(`validate-envoy: --output: expected text or json, got ${JSON.stringify(values.output)}\n`);
    return 2;
  }
  const envoyVersion = values["envoy-version"] === undefined ? CURRENT_ENVOY : parseVersion(values["envoy-version"]);
  if (!envoyVersion) {
    err(`validate-envoy: --envoy-version: expected an Envoy release such as 1.31, got ${JSON.stringify(values["envoy-version"])}\n`);
    return 2;
  }
  if (!files.length) {
    err("validate-envoy: give the files to check (Envoy bootstraps, Kubernetes resources, failover policies; - for standard input)\n");
    return 1;
  }
  // The kinds' schemas load here, not when the CLI starts: other commands need none of them.
  const { known, problems } = (await import("./k8s-knowledge.js")).knownKinds(values.crds);
  if (problems.length) {
    for (const p of problems) err(`validate-envoy: ${p}\n`);
    return 1;
  }
  const options: ValidateOptions = { known, envoyVersion };
  const reports: FileReport[] = [];
  for (const file of files) reports.push(file === "-" ? { ...(await validateText(await stdin(), stdinPath(), options)), file: "-" } : await validateFile(file, options));
  const count = (severity: Finding["severity"]) => reports.reduce((n, r) => n + r.findings.filter((f) => f.severity === severity).length, 0);
  const errors = count("error");
  if (values.output === "json") out(`${JSON.stringify(jsonReport(reports, errors, count("warning")), null, 2)}\n`);
  else printText(reports, errors, count("warning"), out, err);
  return errors ? 1 : 0;
}

/** Files that a bootstrap on standard input names resolve from the working directory. */
function stdinPath(): string {
  return join(process.cwd(), "<stdin>");
}

function printText(reports: FileReport[], errors: number, warnings: number, out: (s: string) => void, err: (s: string) => void): void {
  for (const report of reports) {
    const name = display(report.file);
    for (const f of report.findings) (f.severity === "error" ? err : out)(`${name}:${f.where}: ${f.severity}: ${f.subject ? `${f.subject}: ` : ""}${f.path}: ${f.message}\n`);
    if (!report.findings.some((f) => f.severity === "error")) out(`${name}: ok (${summary(report)})\n`);
  }
  const n = reports.length;
  out(`validate-envoy: ${n} file${n === 1 ? "" : "s"}, ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}\n`);
}

function jsonReport(reports: FileReport[], errors: number, warnings: number) {
  return {
    files: reports.map((r) => ({
      file: r.file,
      kind: r.kind ?? null,
      policies: r.policies,
      findings: r.findings.map((f) => {
        const [line, column] = f.where.split(":").map(Number);
        return { severity: f.severity, line, column, resource: f.subject ?? null, path: f.path, message: f.message };
      }),
    })),
    errors,
    warnings,
  };
}

function summary(r: FileReport): string {
  return `${r.kind}${r.policies ? `; ${r.policies} polic${r.policies === 1 ? "y" : "ies"} accepted by the failover module` : ""}`;
}

/** Paths relative to the working directory when that is shorter; standard input as <stdin>. */
function display(file: string): string {
  if (file === "-") return "<stdin>";
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && rel.length < file.length ? rel : file;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
