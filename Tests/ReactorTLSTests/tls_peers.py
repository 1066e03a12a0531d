"""Python's ssl and asyncio as the peers of the TLS tests (a client nobody here wrote).

Each subcommand prints what it checked and exits 0, or prints why not and exits 1.
  echo PORT CAFILE VERSION       8 MiB both ways through the echo, byte-exact, at TLS VERSION
                                 (1.2 or 1.3), then close_notify: unwrap() returns only
                                 once the server answered with its own
  concurrent PORT CAFILE COUNT   COUNT asyncio clients at once, each echoing 64 KiB
  starttls PORT CAFILE           a plain line, then asyncio's start_tls on the same
                                 connection, then an echo over TLS
  serve-starttls CERT KEY        a server: prints its port, answers one client's "STARTTLS\\n"
                                 with "GO\\n", upgrades with start_tls, echoes one line
"""
import asyncio
import socket
import ssl
import sys


def client_context(cafile, version=None):
    context = ssl.create_default_context(cafile=cafile)
    if version == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def pattern(size):
    return bytes((i * 7 + 13) & 0xFF for i in range(256)) * (size // 256)


async def echo(port, cafile, version):
    data = pattern(8 * 1024 * 1024)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(cafile, version), server_hostname="localhost")
    ssl_object = writer.get_extra_info("ssl_object")
    negotiated = ssl_object.version()
    expected = "TLSv1.2" if version == "1.2" else "TLSv1.3"
    if negotiated != expected:
        raise SystemExit(f"negotiated {negotiated}, wanted {expected}")

    async def send():
        for offset in range(0, len(data), 65536):
            writer.write(data[offset:offset + 65536])
            await writer.drain()

    sender = asyncio.create_task(send())
    received = await reader.readexactly(len(data))
    await sender
    if received != data:
        raise SystemExit("the echo differs from what was sent")
    writer.close()
    await writer.wait_closed()
    print(f"{negotiated} {ssl_object.cipher()[0]}: 8 MiB echoed byte-exact")


def close_notify(port, cafile):
    # The blocking ssl module: unwrap() sends close_notify and returns once the peer's came.
    context = client_context(cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as plain:
        tls = context.wrap_socket(plain, server_hostname="localhost")
        tls.sendall(b"ping\n")
        if tls.recv(5) != b"ping\n":
            raise SystemExit("no echo before close_notify")
        tls.unwrap()
    print("close_notify answered")


async def concurrent(port, cafile, count):
    context = client_context(cafile)
    data = pattern(64 * 1024)

    async def one(index):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
        writer.write(data)
        received = await reader.readexactly(len(data))
        writer.close()
        await writer.wait_closed()
        return received == data

    results = await asyncio.gather(*(one(index) for index in range(count)))
    if not all(results):
        raise SystemExit(f"{results.count(False)} of {count} echoes differ")
    print(f"{count} concurrent clients echoed byte-exact")


async def starttls(port, cafile):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"STARTTLS\n")
    await writer.drain()
    if await reader.readline() != b"GO\n":
        raise SystemExit("no GO before the upgrade")
    await writer.start_tls(client_context(cafile), server_hostname="localhost")
    writer.write(b"secret\n")
    line = await reader.readline()
    if line != b"secret\n":
        raise SystemExit(f"echo over TLS: {line!r}")
    print(f"start_tls upgraded to {writer.get_extra_info('ssl_object').version()}")
    writer.close()
    await writer.wait_closed()


async def serve_starttls(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    done = asyncio.get_running_loop().create_future()

    async def handle(reader, writer):
        try:
            if await reader.readline() != b"STARTTLS\n":
                raise SystemExit("no STARTTLS")
            writer.write(b"GO\n")
            await writer.drain()
            await writer.start_tls(context)
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()
            done.set_result(None)
        except BaseException as error:
            done.set_exception(error)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.wait_for(done, 60)
    print("served one STARTTLS client")


def main():
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "echo":
        asyncio.run(echo(int(arguments[0]), arguments[1], arguments[2]))
        close_notify(int(arguments[0]), arguments[1])
    elif command == "concurrent":
        asyncio.run(concurrent(int(arguments[0]), arguments[1], int(arguments[2])))
    elif command == "starttls":
        asyncio.run(starttls(int(arguments[0]), arguments[1]))
    elif command == "serve-starttls":
        asyncio.run(serve_starttls(arguments[0], arguments[1]))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
