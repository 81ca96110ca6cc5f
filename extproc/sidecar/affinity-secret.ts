// `serve --affinity-secret-file FILE`: the affinity cookie secrets kept out of the policy file
// (which operators share and commit). The first non-empty line signs new cookies; the lines
// after it are previous secrets, still accepted (and re-signed) until their cookies expire.
// They fill in every cookie-affinity route that names no secret of its own.

import { readFileSync } from "node:fs";
import { DocumentError, display } from "../module/policy-file.js";

/** The secrets in `file`, current first. */
export function readSecrets(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new DocumentError(`${display(file)}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const secrets = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (secrets.length === 0) throw new DocumentError(`${display(file)}: no secret in it (one per line, the current first)`);
  return secrets;
}

/** The policy (JSON text) with `secrets` on each cookie-affinity route that has none. */
export function withAffinitySecrets(policy: string, secrets: readonly string[]): string {
  const doc = JSON.parse(policy) as { routes?: unknown };
  if (!Array.isArray(doc.routes)) return policy;
  for (const route of doc.routes as { affinity?: { cookie?: Record<string, unknown> } }[]) {
    const cookie = route?.affinity?.cookie;
    if (!cookie || typeof cookie !== "object" || "secret" in cookie) continue;
    cookie.secret = secrets[0];
    cookie.previousSecrets = secrets.slice(1);
  }
  return JSON.stringify(doc);
}
