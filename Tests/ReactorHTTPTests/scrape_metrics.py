"""Scrapes reactor-http's /metrics and parses it with prometheus_client's own parser (which
refuses what is not the text format), printing one sample a line: name, labels, value."""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

port = int(sys.argv[1])
with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
    assert response.status == 200, response.status
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4"), response.headers["Content-Type"]
    text = response.read().decode()
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
        print(f"{sample.name} {labels} {sample.value}")
