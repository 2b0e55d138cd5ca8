const crypto = require("crypto");

// True if `body` (the raw request body, string) was signed by paywatch with `secret` (whsec_…).
function verify(secret, headers, body, tolerance = 300) {
  const id = headers["webhook-id"], ts = headers["webhook-timestamp"], sigs = headers["webhook-signature"];
  if (Math.abs(Date.now() / 1000 - Number(ts)) > tolerance) return false; // a replay
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto.createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest();
  return sigs.split(" ").some((s) => {
    const [version, sig] = s.split(",");
    const given = Buffer.from(sig || "", "base64");
    return version === "v1" && given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

if (require.main === module) { // node verify.js SECRET < {"headers": {...}, "body": "..."}
  const req = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const ok = verify(process.argv[2], req.headers, req.body);
  console.log(ok ? "ok" : "invalid");
  process.exit(ok ? 0 : 1);
}
