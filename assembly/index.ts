// The failover filter's entry: registers the root context and re-exports the ABI callbacks.
import { RootContext, setRootFactory } from "./abi";
import { FailoverRoot } from "./filter/root";
export * from "./abi/exports";

setRootFactory((id: u32): RootContext => new FailoverRoot(id));
