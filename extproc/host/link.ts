// Linking a module as Envoy's host does: every function it imports must be one Envoy provides
// (else LinkError, naming each missing import), and during _initialize / main only what
// cpp-host's startVm allows may be called (anything else traps, as in Envoy).

import { LinkError } from "./errors.js";
import { ALLOWED_DURING_START, ADDED_AFTER_PIN } from "./calls/wasi.js";

type Provided = Record<string, Record<string, (...args: never[]) => unknown>>;

export function linkImports(module: WebAssembly.Module, provided: Provided, starting: () => boolean): WebAssembly.Imports {
  const wanted = WebAssembly.Module.imports(module).filter((i) => i.kind === "function");
  const missing = wanted.filter((i) => !(provided[i.module] && i.name in provided[i.module])).map((i) => {
    const late = i.module !== "env" && ADDED_AFTER_PIN.has(i.name);
    return `${i.module}.${i.name}${late ? " (only in proxy-wasm-cpp-host 94091cd and later, after current Envoy's pin)" : ""}`;
  });
  if (missing.length) {
    throw new LinkError(`module imports functions Envoy's host does not provide: ${missing.join(", ")}`);
  }
  const linked: Record<string, Record<string, unknown>> = {};
  for (const { module: from, name } of wanted) {
    const f = provided[from][name];
    const key = `${from}.${name}`;
    (linked[from] ??= {})[name] = ALLOWED_DURING_START.has(key) ? f : function guarded(this: unknown) {
      if (starting()) throw new WebAssembly.RuntimeError(`restricted_callback: ${key} called during start-up`);
      // apply with `arguments`: V8 passes them on without building an array (rest/spread did).
      // eslint-disable-next-line prefer-rest-params
      return f.apply(undefined, arguments as unknown as never[]);
    };
  }
  return linked as WebAssembly.Imports;
}
