"""Signs a message as BitPay's merchant clients do, with btcpay-python's own key utilities
(`btcpay.crypto`, unmodified): for the review tests that send hand-made signed requests
(another host, another query, another body) to paywatch's BitPay routes.

    sign.py PEMFILE MESSAGE   -> {"identity": compressed public key hex, "signature": DER hex, "sin"}
"""

import json
import sys

from btcpay import crypto


def main(argv):
    pem = open(argv[1]).read()
    return {
        "identity": crypto.get_compressed_public_key_from_pem(pem),
        "signature": crypto.sign(argv[2], pem),
        "sin": crypto.get_sin_from_pem(pem),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv)))
