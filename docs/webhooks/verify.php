<?php
// True if $body (the raw request body) was signed by paywatch with $secret (whsec_…).
function paywatch_verify(string $secret, array $headers, string $body, int $tolerance = 300): bool {
    $id = $headers['webhook-id']; $ts = $headers['webhook-timestamp']; $sigs = $headers['webhook-signature'];
    if (abs(time() - intval($ts)) > $tolerance) return false; // a replay
    $key = base64_decode(preg_replace('/^whsec_/', '', $secret));
    $expected = base64_encode(hash_hmac('sha256', "$id.$ts.$body", $key, true));
    foreach (explode(' ', $sigs) as $s) {
        [$version, $sig] = array_pad(explode(',', $s, 2), 2, '');
        if ($version === 'v1' && hash_equals($expected, $sig)) return true;
    }
    return false;
}

if (PHP_SAPI === 'cli' && realpath($argv[0]) === __FILE__) { // php verify.php SECRET < {"headers": {...}, "body": "..."}
    $req = json_decode(file_get_contents('php://stdin'), true);
    $ok = paywatch_verify($argv[1], $req['headers'], $req['body']);
    echo $ok ? "ok\n" : "invalid\n";
    exit($ok ? 0 : 1);
}
