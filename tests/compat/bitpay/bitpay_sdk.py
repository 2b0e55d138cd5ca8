"""BitPay's official Python SDK (`bitpay` on PyPI, unmodified) against paywatch's BitPay routes.

The SDK only knows bitpay.com and test.bitpay.com (`Client.get_base_url`): like any user who
points it at another server, this script builds the SDK's own `BitPayClient` with paywatch's
base URL (`http://127.0.0.1:PORT/bitpay/`) and hands it to `Client(bitpay_client,
token_container)`, the SDK's public constructor. Nothing of the SDK is patched.

    bitpay_sdk.py keygen PEMFILE                       -> {"sin"}
    bitpay_sdk.py request-token BASE PEMFILE FACADE    -> {"token", "pairingCode", "facade"}
    bitpay_sdk.py create BASE FACADE TOKEN PEMFILE|- INVOICE_JSON  -> the invoice
    bitpay_sdk.py get BASE FACADE TOKEN PEMFILE|- ID               -> the invoice
    bitpay_sdk.py rates BASE                           -> [{code, name, rate}]

Prints one JSON document; a BitPay error is {"error": message}.
"""

import json
import sys

import requests
from bitpay.client import Client
from bitpay.clients.bitpay_client import BitPayClient
from bitpay.exceptions.bitpay_exception import BitPayException
from bitpay.models.facade import Facade
from bitpay.models.invoice.buyer import Buyer
from bitpay.models.invoice.invoice import Invoice
from bitpay.utils.key_utils import generate_pem, get_sin_from_pem
from bitpay.utils.token_container import TokenContainer


def client(base, facade, token, pemfile):
    tokens = TokenContainer()
    tokens.put(Facade(facade), token)
    pem = None if pemfile == "-" else open(pemfile).read()
    return Client(BitPayClient(base, pem), tokens)


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def main(argv):
    cmd = argv[1]
    if cmd == "keygen":
        pem = generate_pem()
        with open(argv[2], "w") as f:
            f.write(pem)
        return {"sin": get_sin_from_pem(pem)}
    if cmd == "request-token":
        # What the SDK's own setup script (bitpay_setup.request_tokens) sends: the client's
        # SIN and the facade it wants; the operator approves the pairing code it gets.
        base, pemfile, facade = argv[2:5]
        sin = get_sin_from_pem(open(pemfile).read())
        headers = {"content-type": "application/json", "X-accept-version": "2.0.0"}
        r = requests.post(base + "tokens", data=json.dumps({"id": sin, "facade": facade}), headers=headers)
        if not r.ok:
            return {"error": r.text, "status": r.status_code}
        d = r.json()["data"][0]
        return {"token": d["token"], "pairingCode": d["pairingCode"], "facade": d["facade"]}
    if cmd == "rates":
        c = Client(BitPayClient(argv[2]), TokenContainer())
        return [dump(r) for r in c.get_rates().rates]
    base, facade, token, pemfile = argv[2:6]
    c = client(base, facade, token, pemfile)
    signed = facade == "merchant"
    if cmd == "create":
        fields = json.loads(argv[6])
        buyer = fields.pop("buyer", None)
        invoice = Invoice(**fields)
        if buyer is not None:
            invoice.buyer = Buyer(**buyer)
        return dump(c.create_invoice(invoice, Facade(facade), signed))
    if cmd == "get":
        return dump(c.get_invoice(argv[6], Facade(facade), signed))
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    try:
        out = main(sys.argv)
    except BitPayException as e:
        out = {"error": str(e)}
    print(json.dumps(out))
