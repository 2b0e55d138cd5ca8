// Checks IPNs with the published `coinpayments-ipn` verifier (npm, 1.0.0, unmodified), as a
// shop's IPN handler does: the form body parsed with Node's querystring, the `HMAC` header and
// the shop's IPN secret. Reads [{"body": "...", "hmac": "...", "secret": "..."}, ...] as JSON on
// stdin, prints [{"valid": true|false} or {"error": "..."}, ...] on stdout.
'use strict';
const qs = require('querystring');
const { verify } = require('coinpayments-ipn');

let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const out = JSON.parse(input).map(({ body, hmac, secret }) => {
    try {
      return { valid: verify(hmac, secret, qs.parse(body)) };
    } catch (e) {
      return { error: e.message };
    }
  });
  console.log(JSON.stringify(out));
});
