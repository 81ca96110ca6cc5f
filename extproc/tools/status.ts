// `failover status`: a running sidecar's live plan, read from its admin endpoint's
// /debug/clusters, printed as `failover plan` prints a plan.
import type { PublishedPlan } from "../module/failover-module.js";
import { DocumentError, display } from "../module/policy-file.js";
import { formatPlan } from "./plan.js";

export interface SidecarStatus {
  ok: boolean;
  raw: unknown;
  policyFile: string | null;
  failure: string | null;
  localities: { locality: string; plan: PublishedPlan }[];
}

const TIMEOUT_MS = 5000;

export async function fetchStatus(admin: string): Promise<SidecarStatus> {
  const url = `${admin.replace(/\/+$/, "")}/debug/clusters`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    const c = (e as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (e as Error).message;
    throw new DocumentError(`${url}: no answer (${cause}); is \`failover serve\` running there (--admin-port)?`);
  }
  const text = await res.text();
  if (res.status !== 200) throw new DocumentError(`${url}: HTTP ${res.status}: ${text.trim().slice(0, 200)}`);
  let raw: { policyFile?: string | null; failure?: string | null; localities?: { locality: string; plan: PublishedPlan }[] };
  try {
    raw = JSON.parse(text);
  } catch {
    throw new DocumentError(`${url}: not JSON: is this a failover sidecar's admin endpoint?`);
  }
  if (!Array.isArray(raw.localities)) throw new DocumentError(`${url}: no "localities": is this a failover sidecar's admin endpoint?`);
  return { ok: !raw.failure, raw, policyFile: raw.policyFile ?? null, failure: raw.failure ?? null, localities: raw.localities };
}

export function formatStatus(admin: string, s: SidecarStatus): string {
  let out = `sidecar ${admin}${s.policyFile ? `, policy ${display(s.policyFile)}` : ""}\n`;
  if (s.failure) out += `FAILED: ${s.failure}\n`;
  if (!s.localities.length) out += "no plan published yet\n";
  for (const { locality, plan } of s.localities) {
    out += "\n" + formatPlan({
      scenario: admin, case: locality === "///" ? "proxies that send no locality (the sidecar's own)" : `proxies in ${locality}`, description: "", split: plan.routes[0]?.split ?? {},
      locality: plan.locality, routes: plan.routes, clusters: plan.clusters, requests: [], warnings: [],
    });
  }
  return out;
}
