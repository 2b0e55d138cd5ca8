"""Runs one call of the published `pycoinpayments` client (PyPI, 1.0.0, unmodified) against
paywatch and prints its answer as JSON: CoinPayments' `result` merged into the top level with
`error` ("ok", or the message).

    python client.py URL PUBLIC_KEY PRIVATE_KEY CALL [PARAMS_JSON]
      CALL  create_transaction | get_tx_info | get_tx_info_multi | rates | get_basic_info

The client has no option for its endpoint: it posts to the class constant
`ApiConfig._API_END_POINT` ("https://www.coinpayments.net/api.php"), which a user pointing it
elsewhere sets, as done here. TLS is verified with Python's default context; the test names its
certificate authority with SSL_CERT_FILE.
"""

import json
import sys

from pycoinpayments import CoinPayments
from pycoinpayments.apiConfig import ApiConfig

url, public_key, private_key, call = sys.argv[1:5]
params = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
ApiConfig._API_END_POINT = url
client = CoinPayments(private_key, public_key)
print(json.dumps(getattr(client, call)(params)))
