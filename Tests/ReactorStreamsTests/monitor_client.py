"""A client of a ReactorMonitor, as nc -U would be: connects to the socket at argv[1], sends
each later argument as a command line, and prints each answer, up to the monitor's prompt.
An argument "raw:TEXT" sends TEXT as it is, with no newline added."""
import socket
import sys

PROMPT = b"monitor> "

client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.settimeout(30)
client.connect(sys.argv[1])
received = b""


def answer():
    global received
    while PROMPT not in received:
        try:
            chunk = client.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            text, received = received, b""
            return text.decode(errors="replace") + "[closed]"
        received += chunk
    text, _, received = received.partition(PROMPT)
    return text.decode(errors="replace")


answer()  # the first prompt
for command in sys.argv[2:]:
    try:
        client.sendall(command[4:].encode() if command.startswith("raw:") else command.encode() + b"\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the monitor closed the connection: its last answer says why
    print(answer(), end="", flush=True)
    print("---", flush=True)
