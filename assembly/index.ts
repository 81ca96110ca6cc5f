// The failover filter's entry: registers the root context and re-exports the ABI callbacks.
import { BufferType, HttpContext, HeadersStatus, LogLevel, MapType, RootContext, addHeader, getBuffer, log, setRootFactory } from "./abi";
import { parseJson } from "./json";
export * from "./abi/exports";

class Root extends RootContext {
  name: string = "";
  value: string = "";
  onConfigure(size: u32): bool {
    const buf = getBuffer(BufferType.PluginConfiguration);
    const parsed = parseJson(buf === null ? "" : String.UTF8.decode(buf));
    if (parsed.value === null) {
      log(LogLevel.Error, "failover: plugin configuration: " + parsed.error);
      return false;
    }
    const h = parsed.value!.get("responseHeader");
    if (h === null || !h.isObject) {
      log(LogLevel.Error, "failover: plugin configuration: responseHeader: expected an object");
      return false;
    }
    this.name = h.get("name")!.str;
    this.value = h.get("value")!.str;
    return true;
  }
  newHttpContext(id: u32): HttpContext { return new Stream(id, this); }
}

class Stream extends HttpContext {
  onResponseHeaders(n: u32, eos: bool): HeadersStatus {
    const r = changetype<Root>(this.root);
    addHeader(MapType.HttpResponseHeaders, r.name, r.value);
    return HeadersStatus.Continue;
  }
}

setRootFactory((id: u32): RootContext => new Root(id));
