# redis-py's r.ts() API against a CityHall server (port in argv[1]); run by redis_py_test.ts
# with Debian's /usr/bin/python3 and its redis-py. Exits non-zero on the first mismatch.
import sys
import redis

r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
ts = r.ts()

assert ts.create("temp:a", retention_msecs=60000, labels={"room": "a", "type": "temp"}, duplicate_policy="last")
assert ts.create("temp:b", labels={"room": "b", "type": "temp"}, chunk_size=128)
assert ts.add("temp:a", 1000, 21.5) == 1000
assert ts.add("temp:a", 2000, 22.25) == 2000
assert ts.add("temp:a", 2000, 23) == 2000  # duplicate policy last
assert ts.madd([("temp:b", 1000, 10), ("temp:b", 2000, 11), ("temp:b", 3000, 12)]) == [1000, 2000, 3000]
assert ts.add("auto", 5, 1, labels={"type": "counter"}) == 5
assert ts.incrby("auto", 2, timestamp=6) == 6
assert ts.decrby("auto", 1, timestamp=7) == 7
assert ts.get("auto") == (7, 2.0), ts.get("auto")
assert ts.range("temp:a", "-", "+") == [(1000, 21.5), (2000, 23.0)], ts.range("temp:a", "-", "+")
assert ts.revrange("temp:b", "-", "+", count=2) == [(3000, 12.0), (2000, 11.0)]
assert ts.range("temp:b", 0, 10000, aggregation_type="avg", bucket_size_msec=2000) == [(0, 10.0), (2000, 11.5)]
assert ts.range("temp:b", "-", "+", filter_by_min_value=11, filter_by_max_value=11) == [(2000, 11.0)]
assert ts.range("temp:b", "-", "+", filter_by_ts=[1000, 3000]) == [(1000, 10.0), (3000, 12.0)]

m = ts.mrange("-", "+", filters=["type=temp"], with_labels=True)
assert m == [
    {"temp:a": [{"room": "a", "type": "temp"}, [(1000, 21.5), (2000, 23.0)]]},
    {"temp:b": [{"room": "b", "type": "temp"}, [(1000, 10.0), (2000, 11.0), (3000, 12.0)]]},
], m
g = ts.mrange("-", "+", filters=["type=temp"], groupby="type", reduce="max")
assert g == [{"type=temp": [{}, [(1000, 21.5), (2000, 23.0), (3000, 12.0)]]}], g
assert ts.mget(["type=temp"], with_labels=False) == [
    {"temp:a": [{}, 2000, 23.0]},
    {"temp:b": [{}, 3000, 12.0]},
]
assert sorted(ts.queryindex(["type=(temp,counter)"])) == ["auto", "temp:a", "temp:b"]

info = ts.info("temp:a")
assert info.total_samples == 2, info.total_samples
assert info.retention_msecs == 60000
assert info.labels == {"room": "a", "type": "temp"}
assert info.duplicate_policy == "last", info.duplicate_policy
assert info.first_time_stamp == 1000 and info.lastTimeStamp == 2000
# TS.INFO DEBUG (no API method in 4.3.4) goes through the same TSInfo parser.
debug = ts.execute_command("TS.INFO", "temp:a", "DEBUG")
assert debug.total_samples == 2 and debug.labels == {"room": "a", "type": "temp"}, vars(debug)

assert ts.create("temp:a:avg")
assert ts.createrule("temp:a", "temp:a:avg", "avg", 1000)
assert ts.info("temp:a").rules == [[b"temp:a:avg", 1000, b"AVG", 0]], ts.info("temp:a").rules
assert ts.info("temp:a:avg").source_key == b"temp:a"
# As RedisTimeSeries: only samples added after the rule count; a bucket closes on the next one's sample.
assert ts.add("temp:a", 3500, 30) == 3500
assert ts.range("temp:a:avg", "-", "+") == []
assert ts.add("temp:a", 4500, 31) == 4500
assert ts.range("temp:a:avg", "-", "+") == [(3000, 30.0)]
assert ts.deleterule("temp:a", "temp:a:avg")
assert ts.alter("temp:b", labels={"room": "b2"})
assert ts.queryindex(["room=b2"]) == ["temp:b"]
assert ts.delete("temp:b", 1000, 2000) == 2

try:
    ts.add("temp:b", 3000, 99)
    raise AssertionError("a duplicate under BLOCK was accepted")
except redis.ResponseError as e:
    assert "DUPLICATE_POLICY is set to BLOCK" in str(e), e

r.set("plain", "v")
try:
    ts.range("plain", "-", "+")
    raise AssertionError("TS.RANGE on a string was accepted")
except redis.ResponseError as e:
    assert "WRONGTYPE" in str(e), e
assert r.type("temp:a") == b"TSDB-TYPE"

pipe = ts.pipeline(transaction=False)
for i in range(100):
    pipe.add("piped", 10_000 + i, i * 1.5)
assert pipe.execute() == [10_000 + i for i in range(100)]
assert len(ts.range("piped", "-", "+")) == 100
print("ok")
