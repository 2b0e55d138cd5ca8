"""btcpay-python (`btcpay` on PyPI, unmodified): the BitPay-protocol client of BTCPay Server,
against paywatch's BitPay routes. It takes the server as its `host` argument
(`http://127.0.0.1:PORT/bitpay`) and signs every request with its own key.

    btcpay_client.py keygen PEMFILE                 -> {"sin"}
    btcpay_client.py pair HOST PEMFILE CODE         -> {facade: token}
    btcpay_client.py create HOST PEMFILE TOKEN INVOICE_JSON  -> the invoice
    btcpay_client.py get HOST PEMFILE TOKEN ID      -> the invoice

Prints one JSON document; an HTTP error is {"error": body, "status": code}.
"""

import json
import sys

import requests
from btcpay import BTCPayClient, crypto


def main(argv):
    cmd = argv[1]
    if cmd == "keygen":
        pem = crypto.generate_privkey()
        with open(argv[2], "w") as f:
            f.write(pem)
        return {"sin": crypto.get_sin_from_pem(pem)}
    host, pemfile = argv[2:4]
    pem = open(pemfile).read()
    if cmd == "pair":
        return BTCPayClient(host=host, pem=pem).pair_client(argv[4])
    c = BTCPayClient(host=host, pem=pem, tokens={"merchant": argv[4]})
    if cmd == "create":
        return c.create_invoice(json.loads(argv[5]))
    if cmd == "get":
        return c.get_invoice(argv[5])
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    try:
        out = main(sys.argv)
    except requests.HTTPError as e:
        out = {"error": e.response.text, "status": e.response.status_code}
    print(json.dumps(out))
