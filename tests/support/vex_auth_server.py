"""A static VEX server that wants credentials: HTTP basic (USER:PASSWORD)
or a bearer token (TOKEN), as MODE says ("basic" or "bearer"). Every
request is logged to LOG as "PATH AUTHORIZATION-OR-none". A path starting
with /redirect/ answers 302 to the same path (without the prefix) on
REDIRECT (a base URL), so a test can see whether credentials follow a
redirect to another host. Test use only.

usage: vex_auth_server.py PORT ROOT MODE USER PASSWORD TOKEN LOG REDIRECT
"""
import base64, http.server, sys

port, root, mode, user, password, token, log, redirect = sys.argv[1:9]
want = ("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if mode == "basic" else "Bearer " + token)


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)

    def do_GET(self):
        got = self.headers.get("Authorization")
        with open(log, "a") as f:
            f.write(f"{self.path} {got or 'none'}\n")
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", redirect + self.path[len("/redirect"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode != "open" and got != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="vex"' if mode == "basic" else 'Bearer realm="vex"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
