"""A bounded client on the Pod's loopback: waits for the server (at most 60 s), makes three
requests, prints the answers."""

import time
import urllib.request

for _ in range(120):
    try:
        urllib.request.urlopen("http://127.0.0.1:8000/ready", timeout=5).read()
        break
    except OSError:
        time.sleep(0.5)
for path in ("/apple", "/pear", "/plum"):
    print(urllib.request.urlopen(f"http://127.0.0.1:8000{path}", timeout=10).read().decode(), end="")
