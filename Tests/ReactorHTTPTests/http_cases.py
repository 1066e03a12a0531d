"""The edge cases of reactor-http, from clients nobody here wrote: Python's http.client, and
raw sockets for what no well-behaved client sends. Run as `http_cases.py PORT CASE`: prints
`ok CASE` (and, for some cases, a figure) or fails with an AssertionError. The server is
started by the Swift test with a 64 KiB body limit and a 1 s header and idle timeout."""

import http.client
import socket
import sys
import time

PORT = int(sys.argv[1])
CASE = sys.argv[2]
DEADLINE = 20  # seconds any one wait may take before the case fails


def connect():
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=DEADLINE)
    return sock


def read_response(sock, buffered=b""):
    """One response: (status, headers as a dict of lowercase names, body, rest of the bytes)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"EOF before a response head; got {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if status < 200:
        return status, headers, b"", rest
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "EOF inside a body"
            rest += chunk
        return status, headers, rest[:length], rest[length:]
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += receive(sock)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += receive(sock)
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                return status, headers, body, rest
    return status, headers, b"", rest


def receive(sock):
    chunk = sock.recv(65536)
    assert chunk, "EOF inside a chunked body"
    return chunk


def assert_closed(sock):
    """The server closes the connection: EOF (or a reset), within DEADLINE."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return
    except ConnectionResetError:
        return


def refused(request, expected):
    sock = connect()
    sock.sendall(request)
    status, headers, _, _ = read_response(sock)
    assert status == expected, f"expected {expected}, got {status}"
    assert headers.get("connection") == "close", headers
    assert_closed(sock)


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


def case_keep_alive():
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=DEADLINE)
    connection.request("GET", "/plaintext")
    first = connection.getresponse()
    assert first.read() == b"Hello, World!"
    sock = connection.sock
    for path, body in [("/json", b'{"message":"Hello, World!"}'), ("/plaintext", b"Hello, World!")]:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200 and response.read() == body
        assert connection.sock is sock, "the connection was not reused"
    assert first.getheader("Date") and first.getheader("Content-Type") == "text/plain"


def case_pipelining():
    paths = ["/plaintext", "/json", "/nope"] * 10
    sock = connect()
    sock.sendall(b"".join(get(path) for path in paths))
    rest = b""
    for path in paths:
        status, _, body, rest = read_response(sock, rest)
        expected = {"/plaintext": (200, b"Hello, World!"), "/json": (200, b'{"message":"Hello, World!"}'), "/nope": (404, b"Not Found\n")}[path]
        assert (status, body) == expected, f"{path}: {status} {body!r}"
    # Pipelined bodies too: an echo between two GETs.
    sock.sendall(get("/json") + b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + get("/plaintext"))
    answers = []
    for _ in range(3):
        status, _, body, rest = read_response(sock, rest)
        answers.append(body)
    assert answers == [b'{"message":"Hello, World!"}', b"hello", b"Hello, World!"], answers


def case_split_head():
    """A head arriving a few bytes at a time is put together."""
    sock = connect()
    request = get("/plaintext")
    for index in range(0, len(request), 3):
        sock.sendall(request[index:index + 3])
        time.sleep(0.001)
    status, _, body, _ = read_response(sock)
    assert status == 200 and body == b"Hello, World!"


def case_http10():
    sock = connect()
    sock.sendall(b"GET /plaintext HTTP/1.0\r\n\r\n")
    status, headers, body, _ = read_response(sock)
    assert status == 200 and body == b"Hello, World!"
    assert_closed(sock)
    sock = connect()
    sock.sendall(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, headers, body, rest = read_response(sock)
    assert headers.get("connection") == "keep-alive", headers
    sock.sendall(b"GET /json HTTP/1.0\r\n\r\n")
    status, _, body, _ = read_response(sock, rest)
    assert body == b'{"message":"Hello, World!"}'
    assert_closed(sock)


def case_connection_close():
    sock = connect()
    sock.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body, _ = read_response(sock)
    assert status == 200 and headers.get("connection") == "close"
    assert_closed(sock)


def case_head():
    sock = connect()
    sock.sendall(b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n" + get("/json"))
    data = b""
    while data.count(b"\r\n\r\n") < 2 or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, f"EOF after {data!r}"
        data += chunk
    first, _, second = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 13" in first, first
    assert second.startswith(b"HTTP/1.1 200 OK"), "the HEAD response carried a body"


def case_chunked_upload():
    payload = bytes(range(256)) * 200
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=DEADLINE)
    connection.request("POST", "/echo", body=iter([payload[:1000], payload[1000:50000], payload[50000:]]), encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 200 and response.read() == payload
    # Chunk extensions and trailers are read past; the connection goes on.
    sock = connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n" + get("/plaintext"))
    status, _, body, rest = read_response(sock)
    assert body == b"hello world", body
    status, _, body, _ = read_response(sock, rest)
    assert body == b"Hello, World!"


def case_expect_continue():
    sock = connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    status, _, _, rest = read_response(sock)
    assert status == 100, status
    sock.sendall(b"hello")
    status, _, body, _ = read_response(sock, rest)
    assert status == 200 and body == b"hello"
    # Refused before the body is sent: no 100, and the client need not send it.
    sock = connect()
    sock.sendall(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    status, headers, _, _ = read_response(sock)
    assert status == 404 and headers.get("connection") == "close", (status, headers)


def case_head_too_large():
    refused(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431)
    refused(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-F%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431)


def case_body_too_large():
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n" + b"a" * 70000, 413)
    # A chunk whose declared size passes the limit is refused before it is read.
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % 70000 + b"a" * 70000 + b"\r\n0\r\n\r\n", 413)
    # Past the limit after the response started: the response is cut, the connection closed.
    sock = connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + (b"4000\r\n" + b"a" * 16384 + b"\r\n") * 5 + b"0\r\n\r\n")
    try:
        read_response(sock)
        raise RuntimeError("the whole body was echoed")
    except (AssertionError, ConnectionResetError):
        pass


def case_malformed():
    cases = [
        b"GET /plaintext\r\nHost: x\r\n\r\n",                            # no version
        b"GET  /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",                  # two spaces
        b"G@T /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",                   # not a token
        b"GET /plain text HTTP/1.1\r\nHost: x\r\n\r\n",                  # a space in the target
        b"GET /plaintext HTTP/1.1\r\nHost : x\r\n\r\n",                  # space before the colon
        b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",  # obs-fold
        b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",    # a NUL in a value
        b"GET /plaintext HTTP/1.1\nHost: x\n\n",                         # bare LF
        b"GET /plaintext HTTP/1.1\r\n\r\n",                              # no Host
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",        # two Hosts
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",  # bad chunk size
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello",
    ]
    for request in cases:
        try:
            refused(request, 400)
        except AssertionError as error:
            raise AssertionError(f"{request!r}: {error}")
    refused(b"GET /plaintext HTTP/2.0\r\nHost: x\r\n\r\n", 505)
    # A chunk without its CRLF, found after the echo started: the response is cut short.
    sock = connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n")
    try:
        read_response(sock)
        raise RuntimeError("a malformed chunked body was echoed whole")
    except (AssertionError, ConnectionResetError):
        pass


def case_smuggling():
    """RFC 9112 section 6.3: a request whose body could be read two ways is refused."""
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400)
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400)
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", 400)
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400)
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    refused(b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501)
    # The same length twice is one length.
    sock = connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
    status, _, body, _ = read_response(sock)
    assert status == 200 and body == b"hello"


def case_no_desync():
    """A body the handler never reads, which turns out malformed, is not read as requests:
    the connection closes after the answer. A refused head after answered ones is answered."""
    sock = connect()
    sock.sendall(b"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                 b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, _, rest = read_response(sock)
    assert status == 404, status
    data = rest
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    assert b"HTTP/1.1" not in data, f"the body was read as a request: {data!r}"
    sock = connect()
    sock.sendall(get("/plaintext") + b"GARBAGE\r\n\r\n")
    status, _, body, rest = read_response(sock)
    assert status == 200 and body == b"Hello, World!"
    status, headers, _, _ = read_response(sock, rest)
    assert status == 400 and headers.get("connection") == "close", (status, headers)
    # Empty framing lists are refused, not ignored.
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\nContent-Length: 5\r\n\r\nhello", 400)
    refused(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ,\r\n\r\nhello", 400)


def case_slowloris():
    """A head that never completes is cut after the header timeout; another client is served
    meanwhile."""
    sock = connect()
    sock.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    other = http.client.HTTPConnection("127.0.0.1", PORT, timeout=DEADLINE)
    try:
        while True:
            sock.sendall(b"X-A: b\r\n")
            other.request("GET", "/plaintext")
            assert other.getresponse().read() == b"Hello, World!"
            assert time.monotonic() - started < DEADLINE, "the slow head was never cut"
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass


def case_idle_timeout():
    sock = connect()
    sock.sendall(get("/plaintext"))
    status, _, _, _ = read_response(sock)
    assert status == 200
    assert_closed(sock)


def case_unread_pipeline():
    """A client that pipelines without reading is read from only as fast as it reads: its
    sends stall. Prints how much the kernel and server took."""
    sock = connect()
    sock.setblocking(False)
    request = get("/plaintext") * 1000
    sent = 0
    stalled_since = None
    while True:
        try:
            sent += sock.send(request)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1:
                break
            time.sleep(0.01)
        assert sent < 1 << 30, "the server read a gigabyte of requests it could not answer"
    print(f"sent {sent}")
    # The connection still works once read.
    sock.setblocking(True)
    status, _, body, _ = read_response(sock)
    assert status == 200 and body == b"Hello, World!"


def case_echo_streams():
    """An upload larger than the server's buffers is echoed as it arrives: the client reads
    the echo while it still sends."""
    sock = connect()
    total = 32 * 1024 * 1024
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
    piece = bytes(range(256)) * 256
    status = None
    received = 0
    data = b""
    sock.setblocking(False)
    sent = 0
    import select
    while received < total:
        readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], DEADLINE)
        assert readable or writable, "stalled"
        if writable:
            try:
                sent += sock.send(piece[: min(len(piece), total - sent)])
            except BlockingIOError:
                pass
        if readable:
            chunk = sock.recv(1 << 20)
            assert chunk, "EOF"
            if status is None:
                data += chunk
                if b"\r\n\r\n" in data:
                    head, _, rest = data.partition(b"\r\n\r\n")
                    status = head.split(b" ")[1]
                    received = len(rest)
                    assert sent < total, "the whole body was sent before any echo came back"
            else:
                received += len(chunk)
    assert status == b"200"


CASES = {name[5:]: function for name, function in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    CASES[CASE]()
    print(f"ok {CASE}")
