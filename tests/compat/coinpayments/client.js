// Runs one call of the published `coinpayments` npm client (2.2.0, unmodified) against
// paywatch and prints {"result": …} or {"error": "…"} as JSON on stdout.
//
//   node client.js URL KEY SECRET CALL [ARGS_JSON]
//     URL   paywatch's CoinPayments API, e.g. https://localhost:8443/coinpayments/api.php
//     CALL  createTransaction | getTx | getTxMulti | rates | getBasicInfo
//
// The client has no option for its endpoint: it posts to the constants API_PROTOCOL, API_HOST
// and API_PATH of its `dist/constants` module (https://www.coinpayments.net/api.php), which it
// reads at every request, through Node's `https` module with no port (so the https agent's
// default, 443). A user pointing it elsewhere sets those constants, and the port on Node's
// https agent; nothing of the client is changed. TLS is verified: the test gives Node its
// certificate authority with NODE_EXTRA_CA_CERTS.
'use strict';
const https = require('https');
const constants = require('coinpayments/dist/constants');
const Coinpayments = require('coinpayments');

const [url, key, secret, call, args] = process.argv.slice(2);
const u = new URL(url);
constants.API_HOST = u.hostname;
constants.API_PATH = u.pathname;
https.globalAgent.defaultPort = Number(u.port || 443);

const client = new Coinpayments({ key, secret });
const parsed = args ? JSON.parse(args) : undefined;
const calls = {
  createTransaction: () => client.createTransaction(parsed),
  getTx: () => client.getTx(parsed),
  getTxMulti: () => client.getTxMulti(parsed),
  rates: () => client.rates(parsed),
  getBasicInfo: () => client.getBasicInfo(),
};
if (!calls[call]) {
  console.log(JSON.stringify({ error: `unknown call ${call}` }));
  process.exit(2);
}
calls[call]().then(
  (result) => console.log(JSON.stringify({ result })),
  (e) => console.log(JSON.stringify({ error: e.message, extra: e.extra })),
);
