"""CoinGate's published Python SDK (coingate-client 1.1.0, unmodified) against paywatch.

Usage: client.py BASE_URL API_TOKEN COMMAND JSON_ARGS

The SDK has no base-URL parameter: its URLs are `posixpath.join(CoinGate.BASE_API_URL,
"v2/...")`, with the class constant `BASE_API_URL = "https://api.coingate.com"` (and
`BASE_SANDBOX_API_URL` for sandbox mode). A user points it elsewhere by setting that documented
class constant, which is what this script does; nothing else of the library is touched.

Prints one JSON object on stdout: the SDK's parsed model (decimals and times as text), or, when the SDK
raises its API exception, {"error": class name, "status_code", "reason", "message", "errors"}.
"""

import json
import sys
from datetime import datetime
from decimal import Decimal

from coingate import CoinGate
from coingate.exceptions import ApiException


def main() -> None:
    base_url, token, command, raw = sys.argv[1:5]
    args = json.loads(raw)
    CoinGate.BASE_API_URL = base_url
    client = CoinGate(token or None)
    try:
        if command == "create":
            price = Decimal(args.pop("price_amount"))
            out = client.order.create(price, args.pop("price_currency"), args.pop("receive_currency"), **args)
        elif command == "get":
            out = client.order.get(args["id"])
        elif command == "list":
            for k in ("created_from", "created_to"):
                if k in args:
                    args[k] = datetime.fromisoformat(args[k])
            out = client.order.get_all(**args)
        elif command == "checkout":
            out = client.order.checkout(args["id"], args["pay_currency"])
        elif command == "rate":
            rate = client.public.get_exchange_rate_for_merchant(args["from"], args["to"])
            print(json.dumps({"rate": None if rate is None else str(rate)}))
            return
        elif command == "merchant_rates":
            print(json.dumps(client.public.get_merchant_exchange_rates(), default=str))
            return
        elif command == "ping":
            out = client.public.ping()
        elif command == "refund":
            out = client.refund.create_order_refund(
                args["order_id"],
                Decimal(args["amount"]),
                args["address"],
                args.get("currency_id", 1),
                args.get("platform_id", 1),
                args["reason"],
                args["email"],
                args.get("ledger_account_id", "BTC"),
            )
        elif command == "refunds":
            out = client.refund.get_order_refunds(args["order_id"])
        elif command == "get_refund":
            out = client.refund.get_order_refund(args["order_id"], args["id"])
        else:
            raise SystemExit(f"unknown command {command!r}")
    except ApiException as e:
        print(json.dumps({"error": type(e).__name__, "status_code": e.status_code, "reason": e.reason,
                          "message": e.message, "errors": e.errors}))
        return
    # The parsed model; decimals as their text (pydantic's own .json() would make them floats).
    print(json.dumps(out.dict(), default=str))


if __name__ == "__main__":
    main()
