#!/usr/bin/env python3
"""The demo's shop: receives paywatch's callbacks on 127.0.0.1:PORT, verifies each signature
with docs/webhooks/verify.py (the snippet the docs show) and prints what happened.

    scripts/demo_shop.py PORT SECRET
"""
import json, pathlib, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "docs" / "webhooks"))
from verify import verify  # noqa: E402

PORT, SECRET = int(sys.argv[1]), sys.argv[2]


class Shop(BaseHTTPRequestHandler):
    def do_GET(self):
        """Where the checkout page sends the customer back (the invoice's redirect_url)."""
        if not self.path.startswith("/thanks/"):
            self.send_response(404)
            self.end_headers()
            return
        order = self.path.rsplit("/", 1)[-1]
        page = f"<!doctype html><meta charset=utf-8><title>Thank you</title><h1>Thank you for order {order}</h1>"
        print(f"shop: the customer of order {order} is back from the checkout page", flush=True)
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(page.encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not verify(SECRET, headers, body):
            print("shop: REJECTED a callback with a bad signature", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        d = event["data"]
        if "order_id" in d:  # an invoice: what it is worth in its currency (USD…), not in crypto
            what = f"order {d['order_id']}: {d.get('status')}  paid {d.get('paid')} of {d.get('amount')} {d.get('currency')}"
        elif event["type"].startswith("refund."):
            what = f"refund {d.get('amount')} {d.get('asset')} ({d.get('value')} {d.get('currency')}, {d.get('variant')}): {d.get('status')}"
        else:
            what = json.dumps(d)[:80]
        print(f"shop: signature ok  {event['type']:<26} {what}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    print(f"shop: listening on 127.0.0.1:{PORT}", flush=True)
    try:
        HTTPServer(("127.0.0.1", PORT), Shop).serve_forever()
    except KeyboardInterrupt:
        pass
