"""CPython's asyncio in the subprocess workloads of subprocess-bench: one child at a time,
/bin/true started and waited for, or /bin/cat fed 1 MiB and read back. Prints
`<children> <seconds>`.

python3 asyncio_subprocess.py true|cat-1MiB SECONDS
"""
import asyncio
import sys
import time

INPUT = b"*" * (1 << 20)


async def once(workload):
    if workload == "true":
        child = await asyncio.create_subprocess_exec("/bin/true")
        if await child.wait() != 0:
            raise RuntimeError("/bin/true failed")
    else:
        child = await asyncio.create_subprocess_exec(
            "/bin/cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        output, _ = await child.communicate(INPUT)
        if len(output) != len(INPUT):
            raise RuntimeError("cat gave back %d bytes" % len(output))


async def main(workload, seconds):
    rounds = 10
    warmup_end = time.perf_counter() + seconds / 5
    while time.perf_counter() < warmup_end:
        for _ in range(rounds):
            await once(workload)
    start = time.perf_counter()
    children = 0
    while True:
        for _ in range(rounds):
            await once(workload)
        children += rounds
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            print(children, elapsed)
            return
        rounds = min(rounds * 2, 1000)


asyncio.run(main(sys.argv[1], float(sys.argv[2])))
