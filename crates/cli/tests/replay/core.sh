#!/usr/bin/env bash
# Calls balena-sign as the balenaOS build does: curl and jq, payloads as
# base64 inside JSON, responses piped through `base64 -d`. Each output is then
# checked with openssl. Needs SIGN_API, SIGN_API_KEY and WORK (a scratch folder).
set -euo pipefail
: "${SIGN_API:?}" "${SIGN_API_KEY:?}" "${WORK:?}"
cd "$WORK"

post() {
	curl --fail --silent --show-error -X POST "${SIGN_API}$1" \
		-H "Content-Type: application/json" -H "X-API-Key: ${SIGN_API_KEY}" -d "@$2"
}

# A certificate that serves module, EFI and disk-image signing.
printf '{"cert_id": "replay-db", "subject": "/CN=balenaOS replay db/", "key_length": 4096}' > cert.json
post /cert cert.json | jq -r .cert > created.crt
curl --fail --silent "${SIGN_API}/cert/replay-db" | jq -r .cert > db.crt
cmp db.crt created.crt
curl --fail --silent "${SIGN_API}/kmod/cert/replay-db" | jq -r .cert > kmod.crt
cmp kmod.crt db.crt
openssl verify -CAfile db.crt db.crt

# Whole-disk image digest, checked on devices with pkeyutl.
head -c 2097152 /dev/urandom > disk.img
DIGEST=$(sha256sum disk.img | cut -d ' ' -f 1)
printf '{"cert_id": "replay-db", "digest": "%s"}' "$DIGEST" > sign.json
post /cert/sign sign.json | jq -r .signature | base64 -d > disk.img.sig
openssl dgst -sha256 -binary disk.img > digest.bin
openssl pkeyutl -verify -certin -inkey db.crt -in digest.bin -sigfile disk.img.sig

# Raspberry Pi boot image.
printf '{}' > empty.json
KEY_ID=$(post /rsa/key empty.json | jq -r .fingerprint)
curl --fail --silent "${SIGN_API}/rsa/keys" | jq -e --arg id "$KEY_ID" '.keys | index($id) != null' > /dev/null
curl --fail --silent "${SIGN_API}/rsa/key/${KEY_ID}" | jq -r .key > rpi.pem
head -c 5000000 /dev/urandom > boot.img
printf '{"key_id": "%s", "payload": "%s"}' "$KEY_ID" "$(base64 -w 0 boot.img)" > rsa.json
post /rsa/sign rsa.json | jq -r .signature | base64 -d > boot.sig
sed -n 's/^rsa2048: //p' boot.sig | xxd -r -p > boot.sig.bin
openssl dgst -sha256 -verify rpi.pem -signature boot.sig.bin boot.img
[ "$(head -n 1 boot.sig)" = "$(sha256sum boot.img | cut -d ' ' -f 1)" ]
grep -Eq '^ts: [0-9]+$' boot.sig

# The same payload wrapped at 76 columns, as plain `base64` writes it.
jq -n --arg id "$KEY_ID" --rawfile payload <(base64 boot.img) '{key_id: $id, payload: $payload}' > wrapped.json
post /rsa/sign wrapped.json | jq -r .signature | base64 -d > wrapped.sig
[ "$(head -n 1 wrapped.sig)" = "$(head -n 1 boot.sig)" ]

echo "replay: all checks passed"
