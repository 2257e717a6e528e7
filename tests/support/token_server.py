"""A minimal token service for docker-registry's `auth.token` mode (the
bearer-token flow Harbor, GHCR and Docker Hub use): checks HTTP basic
credentials (GET), or an OAuth2 refresh token "idt-<PASSWORD>" (POST, as
docker does with an identity token), then issues a JWT for the requested
scopes, signed RS256 by openssl with the key whose certificate is the
registry's rootcertbundle (sent in the x5c header). Test use only.

usage: token_server.py PORT KEY.pem CERT_DER_BASE64 USER PASSWORD SERVICE [SCOPE_LOG]

SCOPE_LOG: a file each requested scope is appended to, one a line.
"""
import base64, json, subprocess, sys, time, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs

port, key, cert_der_b64, user, password, service = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
scope_log = sys.argv[7] if len(sys.argv) > 7 else None

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def issue(self, scopes):
        if scope_log:
            with open(scope_log, "a") as f:
                for scope in scopes:
                    f.write(scope + "\n")
        access = []
        for scope in scopes:
            typ, name, actions = scope.split(":")
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der_b64]}
        claims = {"iss": "airlock-test-issuer", "sub": user, "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                             capture_output=True, check=True).stdout
        token = signing_input.decode() + "." + b64url(sig)
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self):
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        auth = self.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode():
            return self.refuse()
        self.issue(q.get("scope", []))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != ["idt-" + password]:
            return self.refuse()
        self.issue(form.get("scope", []))

HTTPServer(("127.0.0.1", int(port)), H).serve_forever()
