// `failover validate POLICY`: the policy checked by the filter itself (the module is the only
// authority on what a policy means), its errors traced to file:line:column.
import { EPOCH_NS, failoverModule, startFailover } from "../module/failover-module.js";
import { DocumentError, display, loadDocument } from "../module/policy-file.js";

/** A one-line summary of a valid policy; throws DocumentError or PolicyRejected otherwise. */
export async function validatePolicy(file: string): Promise<string> {
  const doc = loadDocument(file);
  if ("policy" in doc.value || "plan" in doc.value || "simulate" in doc.value) {
    throw new DocumentError(`${display(file)}:1:1: this is a scenario, not a policy (check it with \`failover plan\` or \`failover simulate\`)`);
  }
  const warnings: string[] = [];
  const vm = startFailover(await failoverModule(), { config: doc.value, clock: () => EPOCH_NS, where: (p) => doc.where(p), onLog: (m) => warnings.push(m) });
  vm.shutdown();
  const count = (k: string, one: string) => {
    const n = Array.isArray(doc.value[k]) ? (doc.value[k] as unknown[]).length : 0;
    return `${n} ${one}${n === 1 ? "" : "s"}`;
  };
  return [`${display(file)}: ok (${count("clusters", "cluster")}, ${count("routes", "route")})`, ...warnings.map((w) => `  module: ${w}`)].join("\n");
}


