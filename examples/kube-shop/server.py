"""A small web app for the Pod tests: each request goes through a temporary file, is stored in
an SQLite database and logged; SIGTERM stops it cleanly (exit 0)."""

import http.server
import os
import signal
import sqlite3
import tempfile
import threading

os.makedirs("data", exist_ok=True)
os.makedirs("logs", exist_ok=True)
log = open("logs/server.log", "a")  # noqa: SIM115 - open for the server's life
db = sqlite3.connect("data/app.db", check_same_thread=False)
db.execute("create table if not exists hits (path text)")
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with tempfile.NamedTemporaryFile("w+", prefix="request-") as scratch:
            scratch.write(self.path)
            scratch.flush()
            scratch.seek(0)
            path = scratch.read()
        with lock:
            db.execute("insert into hits values (?)", (path,))
            db.commit()
            (stored,) = db.execute("select path from hits order by rowid desc limit 1").fetchone()
            log.write(f"GET {path}\n")
            log.flush()
        body = f"stored {stored}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 8000), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("serving", flush=True)
server.serve_forever()
db.close()
log.close()
print("stopped", flush=True)
