<?php
// rtsync event hooks in plain PHP (no framework): the business logic of
// examples/embed, as an HTTP application that rtsync POSTs its connect,
// message, rpc and close events to. GatewayWorker's Events.php, over HTTP.
//
//   RTSYNC_HOOK_SECRET=change-me php -S 127.0.0.1:8080 hooks.php
//   rtsync serve --hook-url http://127.0.0.1:8080/rtsync --hook-secret change-me
//   npx wscat -c 'ws://127.0.0.1:7000/ws?user=ann'
//
// Under php-fpm, put it behind your web server as any PHP page. The JSON
// is decoded into objects, not arrays, so {} and [] in a message survive a
// rewrite unchanged. docs/hooks.md describes every event, field and result.

declare(strict_types=1);

// Requests signed longer ago than this (or this far in the future) are
// refused, so a recorded request cannot be replayed later.
const MAX_SKEW_SECONDS = 300;
const CENSORED = ['darn', 'heck'];

/** answer ends the request: 204 with no result, or 200 and the result as JSON. */
function answer(?array $result = null, int $status = 200): void
{
    if ($result === null) {
        http_response_code($status === 200 ? 204 : $status);
        exit;
    }
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($result, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    exit;
}

/** verify checks X-Rtsync-Signature: "sha256=" + hex HMAC-SHA256 of timestamp . "." . raw body. */
function verify(string $secret, string $body): bool
{
    if ($secret === '') {
        return true; // unsigned: only on a network you trust
    }
    $ts = $_SERVER['HTTP_X_RTSYNC_TIMESTAMP'] ?? '';
    $sig = $_SERVER['HTTP_X_RTSYNC_SIGNATURE'] ?? '';
    if (!ctype_digit($ts) || abs(time() - (int) $ts) > MAX_SKEW_SECONDS) {
        return false;
    }
    $want = 'sha256=' . hash_hmac('sha256', $ts . '.' . $body, $secret);
    return hash_equals($want, $sig);
}

function censor(string $text): string
{
    $words = implode('|', array_map(fn ($w) => preg_quote($w, '/'), CENSORED));
    return preg_replace_callback("/\\b($words)\\b/i", fn ($m) => str_repeat('*', strlen($m[0])), $text);
}

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    answer(null, 405);
}
$body = (string) file_get_contents('php://input');
// A refused signature is a failure for rtsync: its failure policy applies,
// and its log says "status 401".
if (!verify(getenv('RTSYNC_HOOK_SECRET') ?: '', $body)) {
    answer(null, 401);
}
$ev = json_decode($body);
if (!is_object($ev)) {
    answer(null, 400);
}

switch ($ev->event ?? '') {
    case 'connect':
        $user = $ev->query->user[0] ?? '';
        if (!preg_match('/^[A-Za-z0-9_-]{1,32}$/', $user)) {
            answer(['refuse' => true, 'reason' => 'connect with ?user=NAME (letters, digits, - and _, at most 32)']);
        }
        answer([
            'uid' => $user,
            'name' => $user,
            'session' => ['since' => $ev->time, 'remote' => $ev->remote_addr],
            'rooms' => ['lobby', "user:$user"],
        ]);

    case 'message':
        $data = $ev->data ?? null;
        if (!($data instanceof stdClass) || !is_string($data->text ?? null)) {
            answer(['refuse' => true, 'reason' => 'messages here are objects with a "text" string, like {"text":"hi"}']);
        }
        $clean = censor($data->text);
        if ($clean === $data->text) {
            answer(); // unchanged
        }
        $data->text = $clean;
        answer(['data' => $data]);

    case 'rpc':
        switch ($ev->method) {
            case 'time':
                $now = microtime(true);
                answer(['data' => ['unix_ms' => (int) floor($now * 1000), 'rfc3339' => gmdate('Y-m-d\TH:i:s\Z', (int) $now)]]);
            case 'whoami':
                answer(['data' => ['client' => $ev->client, 'uid' => $ev->uid ?? null, 'name' => $ev->name ?? null, 'session' => $ev->session ?? null]]);
            default:
                answer(['error' => ['code' => 'unknown_method', 'message' => 'no method ' . json_encode($ev->method) . '; try time or whoami']]);
        }

    case 'close':
        error_log(sprintf('left: client=%s uid=%s code=%d reason=%s', $ev->client, $ev->uid ?? '', $ev->code, $ev->reason ?? ''));
        answer();

    default:
        answer(); // an event this application does not know: accept it unchanged
}
