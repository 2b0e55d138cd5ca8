import base64, hashlib, hmac, json, sys, time

def verify(secret, headers, body, tolerance=300):
    """True if `body` (the raw request body, str) was signed by paywatch with `secret` (whsec_…)."""
    msg_id, ts, sigs = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    if abs(time.time() - int(ts)) > tolerance:
        return False  # too old (or from the future): a replay
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, s.split(",", 1)[1]) for s in sigs.split() if s.startswith("v1,"))

if __name__ == "__main__":  # verify.py SECRET < {"headers": {...}, "body": "..."}
    req = json.load(sys.stdin)
    ok = verify(sys.argv[1], req["headers"], req["body"])
    print("ok" if ok else "invalid")
    sys.exit(0 if ok else 1)
