"""CPython's asyncio.Queue in the ping-pong that coordination-bench runs: an item passed from one
task to another and back through two queues of one slot. Prints `<items> <seconds>`.

python3 asyncio_queue_ping_pong.py SECONDS
"""
import asyncio
import sys
import time


async def ping_pong(rounds):
    ping = asyncio.Queue(maxsize=1)
    pong = asyncio.Queue(maxsize=1)

    async def echo():
        for _ in range(rounds):
            await pong.put(await ping.get())

    task = asyncio.create_task(echo())
    for round in range(rounds):
        await ping.put(round)
        await pong.get()
    await task
    return 2 * rounds


async def main(seconds):
    rounds = 1000
    warmup_end = time.perf_counter() + seconds / 5
    while time.perf_counter() < warmup_end:
        await ping_pong(rounds)
    start = time.perf_counter()
    items = 0
    while True:
        items += await ping_pong(rounds)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            print(items, elapsed)
            return
        rounds = min(rounds * 2, 100_000)


asyncio.run(main(float(sys.argv[1])))
