"""Sends the same commands through redis-py to two servers and compares the replies.

Usage: differential.py REFERENCE_PORT CANDIDATE_PORT. Every command of reactor-redis's subset
is sent, error cases included; the replies (or the errors' texts) must be equal, one for one.
SELECT of another database is left out: reactor-redis has only database 0, and refuses the
others. Replies whose order Redis leaves unspecified (SMEMBERS, HGETALL) are compared as sets and
dicts, and SPOP only where a single member can come out. Exits 1 and prints each difference.
"""
import sys

import redis

COMMANDS = [
    # Connection and server.
    ["PING"], ["PING", "hello"], ["PING", "a", "b"], ["ECHO", "echo me"], ["ECHO"],
    ["SELECT", "0"], ["SELECT", "x"], ["FLUSHALL"], ["FLUSHDB"], ["FLUSHALL", "ASYNC"],
    ["FLUSHALL", "BOGUS"], ["DBSIZE"], ["CONFIG", "GET", "nosuchparameter"], ["CLIENT", "SETNAME", "differential"],
    ["CLIENT", "GETNAME"], ["CLIENT", "SETNAME", "has space"], ["CLIENT", "BOGUS"], ["NOSUCHCOMMAND"],
    ["NOSUCHCOMMAND", "with", "args"], ["nosuch", "x" * 200],
    # Strings.
    ["SET", "s", "value"], ["GET", "s"], ["GET", "missing"], ["SET", "s", "other", "NX"], ["SET", "s2", "v", "XX"],
    ["SET", "s", "third", "XX"], ["GET", "s"], ["SET", "s", "fourth", "GET"], ["SET", "new", "v", "GET"],
    ["SET", "s", "v", "NX", "XX"], ["SET", "s", "v", "EX"], ["SET", "s", "v", "EX", "x"], ["SET", "s", "v", "EX", "0"],
    ["SET", "s", "v", "PX", "-5"], ["SET", "s", "v", "BOGUS"], ["SET", "s"], ["GETSET", "s", "gs"], ["GETSET", "nokey", "x"],
    ["GET", "s"], ["GETSET", "s"], ["APPEND", "s", "+tail"], ["APPEND", "fresh", "abc"], ["GET", "s"], ["STRLEN", "s"],
    ["STRLEN", "missing"], ["SET", "num", "10"], ["INCR", "num"], ["INCRBY", "num", "5"], ["DECR", "num"],
    ["DECRBY", "num", "20"], ["INCR", "newcounter"], ["DECR", "newdown"], ["INCRBY", "num", "x"], ["INCR", "s"],
    ["SET", "big", "9223372036854775807"], ["INCR", "big"], ["SET", "small", "-9223372036854775808"], ["DECR", "small"],
    ["SET", "spaces", " 1"], ["INCR", "spaces"], ["SET", "float", "1.5"], ["INCR", "float"], ["INCRBY", "num"],
    ["MSET", "m1", "a", "m2", "b", "m3", "c"], ["MSET", "m1"], ["MSET", "m1", "a", "m2"], ["MGET", "m1", "m2", "nokey", "m3"],
    ["DEL", "m1", "m2", "nokey"], ["EXISTS", "m1", "m3", "m3", "nokey"], ["DEL"], ["EXISTS"],
    # Expiry.
    ["SET", "e", "v"], ["TTL", "e"], ["PTTL", "e"], ["TTL", "nokey"], ["PTTL", "nokey"], ["EXPIRE", "e", "100"],
    ["TTL", "e"], ["EXPIRE", "e", "100", "NX"], ["EXPIRE", "e", "200", "XX"], ["TTL", "e"], ["PERSIST", "e"],
    ["PERSIST", "e"], ["TTL", "e"], ["PEXPIRE", "e", "100000"], ["TTL", "e"], ["EXPIRE", "nokey", "10"],
    ["EXPIRE", "e", "x"], ["EXPIRE", "e"], ["SET", "e", "w", "EX", "100"], ["TTL", "e"], ["SET", "e", "again"],
    ["TTL", "e"], ["SET", "e", "v", "EX", "50"], ["SET", "e", "kept", "KEEPTTL"], ["TTL", "e"], ["GETSET", "e", "x"],
    ["TTL", "e"], ["EXPIRE", "e", "0"], ["EXISTS", "e"], ["EXPIRE", "e", "-1"], ["PERSIST", "nokey"],
    ["SET", "px", "v", "PX", "100000"], ["TTL", "px"],
    # Lists.
    ["LPUSH", "l", "a", "b", "c"], ["RPUSH", "l", "d", "e"], ["LLEN", "l"], ["LRANGE", "l", "0", "-1"],
    ["LRANGE", "l", "1", "2"], ["LRANGE", "l", "-2", "-1"], ["LRANGE", "l", "-100", "100"], ["LRANGE", "l", "3", "1"],
    ["LRANGE", "l", "10", "20"], ["LRANGE", "l", "x", "1"], ["LPOP", "l"], ["RPOP", "l"], ["LPOP", "l", "2"],
    ["RPOP", "l", "0"], ["LPOP", "l", "-1"], ["LPOP", "l", "x"], ["LLEN", "l"], ["LPOP", "l", "5"], ["LLEN", "l"],
    ["EXISTS", "l"], ["LPOP", "nolist"], ["LPOP", "nolist", "2"], ["RPOP", "nolist"], ["LRANGE", "nolist", "0", "-1"],
    ["LLEN", "nolist"], ["LPUSH", "s", "x"], ["LRANGE", "s", "0", "1"], ["LLEN", "s"], ["LPOP", "s"], ["LPUSH", "l"],
    ["RPUSH", "l2", "only"], ["LPOP", "l2", "1", "extra"],
    # Sets.
    ["SADD", "set", "a", "b", "c", "a"], ["SADD", "set", "c", "d"], ["SCARD", "set"], ["SMEMBERS", "set"],
    ["SISMEMBER", "set", "a"], ["SISMEMBER", "set", "z"], ["SISMEMBER", "noset", "a"], ["SREM", "set", "a", "z"],
    ["SCARD", "set"], ["SMEMBERS", "noset"], ["SCARD", "noset"], ["SREM", "noset", "a"], ["SADD", "one", "single"],
    ["SPOP", "one"], ["EXISTS", "one"], ["SPOP", "noset"], ["SPOP", "noset", "2"], ["SADD", "one", "single"],
    ["SPOP", "one", "5"], ["SADD", "s", "x"], ["SMEMBERS", "s"], ["SPOP", "set", "-1"], ["SREM", "set", "b", "c", "d"],
    ["EXISTS", "set"],
    # Hashes.
    ["HSET", "h", "f1", "v1", "f2", "v2"], ["HSET", "h", "f1", "new", "f3", "v3"], ["HGET", "h", "f1"],
    ["HGET", "h", "nofield"], ["HGET", "nohash", "f"], ["HLEN", "h"], ["HGETALL", "h"], ["HDEL", "h", "f1", "nofield"],
    ["HLEN", "h"], ["HGETALL", "nohash"], ["HLEN", "nohash"], ["HDEL", "nohash", "f"], ["HSET", "h", "f1"],
    ["HSET", "h", "f1", "v", "f2"], ["HGET", "s", "f"], ["HSET", "s", "f", "v"], ["HDEL", "h", "f2", "f3"], ["EXISTS", "h"],
    # Sorted sets.
    ["ZADD", "z", "1", "one", "2", "two", "3", "three"], ["ZADD", "z", "1.5", "onehalf", "0.1", "tenth", "-2", "neg"],
    ["ZADD", "z", "4", "one"], ["ZADD", "z", "NX", "5", "one", "6", "six"], ["ZADD", "z", "XX", "7", "one", "8", "eight"],
    ["ZADD", "z", "CH", "9", "one", "9", "six", "10", "ten"], ["ZADD", "z", "inf", "top", "-inf", "bottom"],
    ["ZADD", "z", "x", "bad"], ["ZADD", "z", "1"], ["ZADD", "z", "NX", "XX", "1", "a"], ["ZCARD", "z"],
    ["ZRANGE", "z", "0", "-1"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["ZRANGE", "z", "2", "4", "WITHSCORES"],
    ["ZRANGE", "z", "-3", "-1"], ["ZRANGE", "z", "5", "2"], ["ZRANGE", "noz", "0", "-1"], ["ZADD", "tie", "1", "b", "1", "a", "1", "c"],
    ["ZRANGE", "tie", "0", "-1"], ["ZPOPMIN", "z"], ["ZPOPMIN", "z", "3"], ["ZPOPMIN", "noz"], ["ZPOPMIN", "z", "0"],
    ["ZPOPMIN", "z", "-1"], ["ZCARD", "z"], ["ZCARD", "noz"], ["ZPOPMIN", "tie", "10"], ["EXISTS", "tie"],
    ["ZADD", "s", "1", "x"], ["ZRANGE", "s", "0", "1"], ["ZRANGE", "z", "0", "1", "BOGUS"],
    # Type errors across kinds.
    ["LPUSH", "h2", "x"], ["HGET", "h2", "f"], ["SADD", "h2", "m"], ["ZADD", "h2", "1", "m"], ["ZCARD", "h2"],
    ["SCARD", "h2"], ["HLEN", "h2"], ["STRLEN", "h2"], ["APPEND", "h2", "x"], ["GETSET", "h2", "x"], ["GET", "h2"],
    ["MGET", "h2", "s"], ["DEL", "h2"], ["DBSIZE"],
    # Binary-safe values.
    ["SET", "bin", b"\x00\x01\r\n\xff"], ["GET", "bin"], ["STRLEN", "bin"], ["ECHO", b"\r\n\x00"],
    ["FLUSHALL"], ["DBSIZE"],
]

UNORDERED = {"SMEMBERS": set, "HGETALL": None}


def call(client, command):
    try:
        reply = client.execute_command(*command)
    except redis.ResponseError as error:
        return ("error", str(error))
    name = command[0].upper() if isinstance(command[0], str) else command[0]
    if name == "SMEMBERS" and isinstance(reply, (list, set)):
        return ("set", sorted(reply))
    if name == "HGETALL" and isinstance(reply, (list, dict)):
        items = list(reply.items()) if isinstance(reply, dict) else list(zip(reply[0::2], reply[1::2]))
        return ("hash", sorted(items))
    return ("reply", reply)


def main():
    reference = redis.Redis(port=int(sys.argv[1]), protocol=2)
    candidate = redis.Redis(port=int(sys.argv[2]), protocol=2)
    for client in (reference, candidate):
        client.execute_command("FLUSHALL")
    differences = 0
    for command in COMMANDS:
        expected = call(reference, command)
        got = call(candidate, command)
        if expected != got:
            differences += 1
            print(f"DIFFERENT {command!r}: redis-server {expected!r}, reactor-redis {got!r}")
    print(f"{len(COMMANDS)} commands, {differences} differences")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
