// A benchmark server in its own process (forked with IPC): "noop" is an ext_proc server on the
// same stack (grpc-js, the same protos) that answers CONTINUE to everything, written the usual
// way (proto-loader's service definition, which converts every message); "noop-codec" is the
// same server on the sidecar's own codec (extproc/sidecar/codec.ts); "failover" is the
// failover sidecar; "empty" is the same sidecar serving the empty module (build/empty.wasm: no
// callbacks), i.e. only its ext_proc plumbing, header conversion and the host's floor. It
// reports its port, its RSS when asked ("rss") and its CPU time so far ("cpu", µs).
import * as grpc from "@grpc/grpc-js";
import { startSidecar } from "../dist/sidecar/server.js";
import { extProcService, genericExtProcService } from "../dist/sidecar/protocol.js";
import { policy } from "./filter.mjs";

const kind = process.argv[2];
const silent = { log() {} };

async function noop(service) {
  const server = new grpc.Server();
  server.addService(service, {
    Process(call) {
      call.on("data", (m) => call.write({ [m.request]: m.request.endsWith("trailers") ? {} : { response: {} } }));
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))));
}

async function sidecar(module) {
  const s = await startSidecar({
    policy: JSON.stringify(policy(4)),
    modulePath: new URL(`../build/${module}.wasm`, import.meta.url).pathname,
    port: 0, adminPort: null, logger: silent, maxStreams: 100_000,
  });
  return s.port;
}

const SERVERS = {
  noop: () => noop(genericExtProcService()),
  "noop-codec": () => noop(extProcService()),
  failover: () => sidecar("failover"),
  empty: () => sidecar("empty"),
};
if (!SERVERS[kind]) throw new Error(`unknown server kind ${kind}: one of ${Object.keys(SERVERS).join(", ")}`);
const port = await SERVERS[kind]();
process.on("message", (m) => {
  if (m === "rss") {
    global.gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send({ rss, heapUsed });
  } else if (m === "cpu") {
    const { user, system } = process.cpuUsage();
    process.send({ cpu: user + system });
  }
});
process.send({ port });
process.on("SIGINT", () => process.exit(0));
