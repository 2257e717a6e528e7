"""A hostile HTTP(S) server for airlock's network tests: a tiny OCI registry
and file server whose every misbehaviour is switched on by a JSON config, and
which records every request it sees (method, path, headers, scheme) so a test
can assert what airlock sent (no Authorization where none belongs, no plain
http after a TLS failure, ...). Loopback only; it exits by itself after
`lifetime` seconds. Test use only.

usage: hostile_server.py CONFIG.json

CONFIG keys (all optional):
  port            listen port (default: a free one); the chosen port is
                  written to `port_file`
  port_file       where to write the port (required)
  log             JSON-lines request log (required)
  lifetime        seconds before the server exits (default 120)
  tls             {"cert": PEM, "key": PEM}: serve https
  auth            "none" | "basic" | "bearer": the /v2/ challenge
  user, password  basic credentials (auth basic), or the token service's
  realm           bearer realm URL (auth bearer)
  routes          list of {"method", "path" (regex), "status", "headers",
                  "body" (text) | "body_file" | "body_zeros" (N bytes),
                  "content_length" (override), "trickle" (seconds between
                  bytes), "repeat" (serve the body N times), "delay"
                  (seconds to wait before answering at all: a stalled
                  server)}; the first match wins, before the registry below
  registry        {"blobs": {digest: file}, "manifests": {"repo:ref": file},
                  "blob_put_status": 201, "store_blobs": true,
                  "claim_blobs_exist": false, "manifest_put_status": 201,
                  "store_manifests": true, "upload_location": "/v2/...":
                  where POST sends the client (absolute URLs allowed),
                  "extra_blob_bytes": N (serve N more bytes than stored;
                  or {digest: N} for some blobs only),
                  "retry_after": {"path regex": [status, seconds, times]}}
"""
import base64, hashlib, json, os, re, socket, ssl, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

config = json.load(open(sys.argv[1]))
log_lock = threading.Lock()
blobs = {}       # digest -> bytes (pushed)
manifests = {}   # "repo:ref" -> (media type, bytes)
retry_counts = {}
reg = config.get("registry", {})
for digest, path in reg.get("blobs", {}).items():
    blobs[digest] = open(path, "rb").read()
for ref, path in reg.get("manifests", {}).items():
    data = open(path, "rb").read()
    mt = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
    manifests[ref] = (mt, data)
    repo = ref.rsplit(":", 1)[0]
    manifests[repo + ":sha256:" + hashlib.sha256(data).hexdigest()] = (mt, data)


def record(handler, extra=None):
    entry = {
        "method": handler.command,
        "path": handler.path,
        "scheme": "https" if config.get("tls") else "http",
        "headers": {k: v for k, v in handler.headers.items()},
        "time": time.time(),
    }
    if extra:
        entry.update(extra)
    with log_lock:
        with open(config["log"], "a") as f:
            f.write(json.dumps(entry) + "\n")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        out = b""
        while len(out) < n:
            chunk = self.rfile.read(min(1 << 20, n - len(out)))
            if not chunk:
                break
            out += chunk
        return out

    def reply(self, status, body=b"", headers=None, content_length=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def route(self):
        for r in config.get("routes", []):
            if r.get("method", self.command) != self.command or not re.fullmatch(r["path"], self.path):
                continue
            if self.command in ("PUT", "POST", "PATCH"):
                self.body()
            if "delay" in r:
                time.sleep(r["delay"])
            if "chunked_attack" in r:
                # Chunked encoding whose framing never ends: an endless
                # chunk-size line ("size_line"), or a chunk extension
                # trickled a byte at a time ("extension").
                try:
                    head = "HTTP/1.1 %d X\r\nTransfer-Encoding: %s\r\n\r\n" % (
                        r.get("status", 200), r.get("te", "chunked"))
                    self.wfile.write(head.encode())
                    if r["chunked_attack"] == "size_line":
                        block = b"0" * 65536
                        while True:
                            self.wfile.write(block)
                    else:
                        self.wfile.write(b"1;")
                        while True:
                            self.wfile.flush()
                            time.sleep(r.get("trickle", 0.2))
                            self.wfile.write(b"x")
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    pass
                return True
            if "header_trickle" in r:
                # A status line, then one header a byte at a time, forever
                # (until the client gives up or the lifetime ends).
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    self.wfile.flush()
                    while True:
                        time.sleep(r["header_trickle"])
                        self.wfile.write(b"a")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return True
            status = r.get("status", 200)
            headers = dict(r.get("headers", {}))
            if "body_file" in r:
                body = open(r["body_file"], "rb").read()
            elif "body_zeros" in r:
                body = None
                length = r["body_zeros"]
            else:
                body = r.get("body", "").encode()
            if body is not None:
                body = body * r.get("repeat", 1)
                length = len(body)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(r.get("content_length", length)))
            self.end_headers()
            if self.command == "HEAD":
                return True
            try:
                if "trickle" in r:
                    data = body if body is not None else b"\0" * length
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(r["trickle"])
                elif body is None:
                    chunk = b"\0" * (1 << 20)
                    left = length
                    while left > 0:
                        n = min(left, len(chunk))
                        self.wfile.write(chunk[:n])
                        left -= n
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return True
        return False

    def authorized(self):
        auth = config.get("auth", "none")
        given = self.headers.get("Authorization", "")
        if auth == "basic":
            want = "Basic " + base64.b64encode(f"{config['user']}:{config['password']}".encode()).decode()
            if given == want:
                return True
            self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                       {"WWW-Authenticate": 'Basic realm="hostile"'})
            return False
        if auth == "bearer":
            if given == "Bearer hostile-token":
                return True
            self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                       {"WWW-Authenticate": f'Bearer realm="{config["realm"]}",service="hostile"'})
            return False
        return True

    def retry_after(self):
        for pattern, (status, seconds, times) in reg.get("retry_after", {}).items():
            if re.fullmatch(pattern, self.path):
                n = retry_counts.get(pattern, 0)
                if n < times:
                    retry_counts[pattern] = n + 1
                    self.reply(status, b"", {"Retry-After": str(seconds)})
                    return True
        return False

    def registry(self):
        m = re.fullmatch(r"/v2/(.+?)/(blobs|manifests)/(uploads(?:/[^/?]*)?|[^/?]+)(\?.*)?",
                         self.path.split("#")[0])
        if self.path in ("/v2/", "/v2"):
            if self.authorized():
                self.reply(200, b"{}", {"Docker-Distribution-API-Version": "registry/2.0"})
            return
        if not m:
            if self.command in ("PUT", "POST", "PATCH"):
                self.body()
            self.reply(404)
            return
        if not self.authorized():
            if self.command in ("PUT", "POST", "PATCH"):
                self.body()
            return
        if self.retry_after():
            return
        repo, kind, ref, query = m.group(1), m.group(2), m.group(3), m.group(4) or ""
        if kind == "blobs" and ref.startswith("uploads") and self.command == "POST":
            self.body()
            loc = reg.get("upload_location", f"/v2/{repo}/blobs/uploads/u-{time.time_ns()}")
            self.reply(202, b"", {"Location": loc})
            return
        if kind == "blobs" and self.command == "PUT":
            data = self.body()
            digest = re.search(r"digest=([^&]+)", query)
            digest = digest.group(1).replace("%3A", ":") if digest else ""
            if reg.get("store_blobs", True) and digest == "sha256:" + hashlib.sha256(data).hexdigest():
                blobs[digest] = data
            self.reply(reg.get("blob_put_status", 201), b"", {"Docker-Content-Digest": digest})
            return
        if kind == "blobs" and self.command in ("GET", "HEAD"):
            if reg.get("claim_blobs_exist") and self.command == "HEAD":
                self.reply(200, b"", {"Docker-Content-Digest": ref}, content_length=0)
                return
            data = blobs.get(ref)
            if data is None:
                self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                return
            extra = reg.get("extra_blob_bytes", 0)
            if isinstance(extra, dict):
                extra = extra.get(ref, 0)
            data = data + b"\0" * extra
            self.reply(200, data, {"Docker-Content-Digest": ref})
            return
        if kind == "manifests" and self.command == "PUT":
            data = self.body()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if reg.get("store_manifests", True):
                mt = self.headers.get("Content-Type", "")
                manifests[f"{repo}:{ref}"] = (mt, data)
                manifests[f"{repo}:{digest}"] = (mt, data)
            self.reply(reg.get("manifest_put_status", 201), b"", {"Docker-Content-Digest": digest})
            return
        if kind == "manifests" and self.command in ("GET", "HEAD"):
            found = manifests.get(f"{repo}:{ref}")
            if found is None:
                self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                return
            mt, data = found
            self.reply(200, data, {"Content-Type": mt,
                                   "Docker-Content-Digest": "sha256:" + hashlib.sha256(data).hexdigest()})
            return
        self.reply(405)

    def handle_any(self):
        record(self)
        if not self.route():
            self.registry()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


def plain_request_on_tls_port(sock):
    """Reads and records a plain-http request that reached the TLS port
    (what a client falling back from https to http sends), then refuses it."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    method, path = (lines[0].split(" ") + ["", ""])[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip()] = v.strip()
    entry = {"method": method, "path": path, "scheme": "http-on-tls-port",
             "headers": headers, "time": time.time()}
    with log_lock:
        with open(config["log"], "a") as f:
            f.write(json.dumps(entry) + "\n")
    try:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except OSError:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    tls = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is None:
            return sock, addr
        sock.settimeout(10)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
            if first and first != b"\x16":
                plain_request_on_tls_port(sock)
                sock.close()
                raise OSError("plain http on the TLS port")
            wrapped = self.tls.wrap_socket(sock, server_side=True)
        except ssl.SSLError as e:
            with log_lock:
                with open(config["log"], "a") as f:
                    f.write(json.dumps({"tls_error": str(e), "time": time.time()}) + "\n")
            sock.close()
            raise OSError(str(e))
        wrapped.settimeout(None)
        return wrapped, addr


def main():
    server = Server(("127.0.0.1", config.get("port", 0)), H)
    if config.get("tls"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(config["tls"]["cert"], config["tls"]["key"])
        server.tls = ctx
    port = server.server_address[1]
    tmp = config["port_file"] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, config["port_file"])
    threading.Timer(config.get("lifetime", 120), lambda: os._exit(0)).start()
    server.serve_forever()


main()
