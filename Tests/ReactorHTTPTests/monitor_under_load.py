"""reactor-http's monitor, asked while wrk loads the server: `ps` lists five idle keep-alive
connections, each by its peer's port and "waiting: read"; `cancel` on one closes exactly that
connection, and the others keep being served. argv: the HTTP port, the monitor's socket path."""
import socket
import sys

port, path = int(sys.argv[1]), sys.argv[2]
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"


def get(connection):
    """One request on a keep-alive connection: the response's bytes, or b"" once it is closed."""
    connection.sendall(REQUEST)
    response = b""
    while b"Hello, World!" not in response:
        chunk = connection.recv(4096)
        if not chunk:
            return b""
        response += chunk
    return response


connections = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(5)]
for connection in connections:
    assert get(connection).startswith(b"HTTP/1.1 200"), "a first response"

monitor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
monitor.settimeout(30)
monitor.connect(path)
received = b""


def command(line):
    global received
    monitor.sendall(line.encode() + b"\n")
    while received.count(b"monitor> ") < 2:
        chunk = monitor.recv(65536)
        assert chunk, "the monitor closed"
        received += chunk
    _, _, rest = received.partition(b"monitor> ")
    answer, _, received = rest.partition(b"monitor> ")
    received = b"monitor> " + received
    return answer.decode()


ps = command("ps")
ids = []
for connection in connections:
    own_port = connection.getsockname()[1]
    lines = [line for line in ps.splitlines() if line.endswith(f"peer 127.0.0.1:{own_port}")]
    assert len(lines) == 1, f"port {own_port} in:\n{ps}"
    assert " waiting: read fd " in lines[0], lines[0]
    ids.append(lines[0].split()[0])
answer = command(f"cancel {ids[0]}")
assert answer == f"cancelled {ids[0]}\n", answer
assert connections[0].recv(1) == b"", "the cancelled connection is closed: the client reads EOF"
for connection in connections[1:]:
    assert get(connection).startswith(b"HTTP/1.1 200"), "the others are served"
print("ok monitor under load")
