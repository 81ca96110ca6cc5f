// Linking a module as Envoy's host does: every function it imports must be one Envoy provides
// (else LinkError, naming each missing import), and during _initialize / main only what
// cpp-host's startVm allows may be called (anything else traps, as in Envoy).

import { LinkError } from "./errors.js";
import { ALLOWED_DURING_START, ADDED_AFTER_PIN } from "./calls/wasi.js";

type Provided = Record<string, Record<string, (...args: never[]) => unknown>>;

type Fn = (...args: never[]) => unknown;

/**
 * `f` behind `check` (which throws to refuse the call). The common arities get a wrapper of the
 * same arity, which V8 calls from wasm without adapting or collecting the arguments.
 */
function guarded(f: Fn, check: () => void): Fn {
  const g = f as (...args: unknown[]) => unknown;
  switch (f.length) {
    case 0: return () => (check(), g());
    case 1: return (a: never) => (check(), g(a));
    case 2: return (a: never, b: never) => (check(), g(a, b));
    case 3: return (a: never, b: never, c: never) => (check(), g(a, b, c));
    case 4: return (a: never, b: never, c: never, d: never) => (check(), g(a, b, c, d));
    case 5: return (a: never, b: never, c: never, d: never, e: never) => (check(), g(a, b, c, d, e));
    default: return (...args: never[]) => (check(), g(...args));
  }
}

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
    (linked[from] ??= {})[name] = ALLOWED_DURING_START.has(key) ? f : guarded(f, () => {
      if (starting()) throw new WebAssembly.RuntimeError(`restricted_callback: ${key} called during start-up`);
    });
  }
  return linked as WebAssembly.Imports;
}
