"""A gRPC C-core client (Debian's python3-grpcio) for the sidecar's ext_proc service.

Runs the pattern of issue 11 item 2 on one channel: STREAMS ext_proc streams, IN_FLIGHT at a
time, every CANCEL_EVERY-th cancelled right after its request-headers answer; the others send
their response headers and read to the end. The messages come ready-encoded from the test
(argv: port, streams, in_flight, cancel_every, request hex, response hex), so no stubs are
generated. Prints one JSON line: streams done, cancelled, and errors by status and details.
"""
import asyncio
import json
import sys

import grpc

METHOD = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"


async def main():
    port, streams, in_flight, cancel_every = (int(a) for a in sys.argv[1:5])
    request, response = bytes.fromhex(sys.argv[5]), bytes.fromhex(sys.argv[6])
    errors = {}
    done = cancelled = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        process = channel.stream_stream(METHOD, request_serializer=None, response_deserializer=None)
        counter = iter(range(streams))

        async def one(i):
            nonlocal cancelled
            call = process()
            try:
                await call.write(request)
                await call.read()
                if i % cancel_every == 0:
                    call.cancel()
                    cancelled += 1
                    return
                await call.write(response)
                await call.read()
                code = await call.code()
                if code != grpc.StatusCode.OK:
                    key = f"{code.name} {await call.details()}"
                    errors[key] = errors.get(key, 0) + 1
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as e:
                key = f"{e.code().name} {e.details()}"
                errors[key] = errors.get(key, 0) + 1

        async def worker():
            nonlocal done
            for i in counter:
                await one(i)
                done += 1

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    print(json.dumps({"done": done, "cancelled": cancelled, "errors": errors}))


asyncio.run(main())
