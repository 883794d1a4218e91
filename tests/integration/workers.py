"""workers.py — which nginx worker holds each of our connections to a
server: the one place the server tests tell workers apart (ss -p)."""
import re
import subprocess


def owners(port):
    """{local port of each established connection to 127.0.0.1:port: the
    pid of the nginx worker that accepted it}."""
    r = subprocess.run(["ss", "-Htnp", "state", "established",
                        f"( sport = :{port} )"],
                       stdout=subprocess.PIPE, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        m = re.search(r"127\.0\.0\.1:(\d+)\s+users:\(\(\"nginx\",pid=(\d+)", line)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out
