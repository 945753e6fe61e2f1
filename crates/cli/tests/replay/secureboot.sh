#!/usr/bin/env bash
# Calls /secureboot/* and /kmod/sign as the balenaOS build does: PK and KEK
# fetched with their signature lists, the build's own list of image hashes
# signed by the first KEK with append and written to db.auth and dbx.auth,
# an EFI binary and a kernel module signed. Each output is checked with
# sbverify, openssl and the efitools list reader. Needs EFI_BINARY and
# KERNEL_MODULE (an unsigned .ko) besides SIGN_API, SIGN_API_KEY and WORK.
set -euo pipefail
: "${SIGN_API:?}" "${SIGN_API_KEY:?}" "${WORK:?}" "${EFI_BINARY:?}" "${KERNEL_MODULE:?}"
cd "$WORK"

post() {
	curl --fail --silent --show-error -X POST "${SIGN_API}$1" \
		-H "Content-Type: application/json" -H "X-API-Key: ${SIGN_API_KEY}" -d "@$2"
}

for id in replay-pk replay-kek replay-db replay-kmod; do
	printf '{"cert_id": "%s", "subject": "/CN=%s/"}' "$id" "$id" > "cert-$id.json"
	post /cert "cert-$id.json" | jq -r .cert > "$id.crt"
done
printf '{"key_id": "replay-pk"}' > pk.json
post /secureboot/pk pk.json > /dev/null
printf '{"key_id": ["replay-kek"], "signing_key_id": "replay-pk"}' > kek.json
post /secureboot/kek kek.json > /dev/null

for var in pk kek; do
	curl --fail --silent "${SIGN_API}/secureboot/${var}/replay-${var}" > "$var.json"
	jq -r ".${var}" "$var.json" | base64 -d > "${var^^}.auth"
	jq -r .esl "$var.json" | base64 -d > "${var^^}.esl"
	sig-list-to-certs "${var^^}.esl" "${var}-out" > /dev/null
	openssl x509 -inform DER -in "${var}-out-0.der" -noout -subject | grep -q "replay-${var}"
	# The authenticated variable ends with the signature list it carries.
	size=$(stat -c %s "${var^^}.esl")
	cmp <(tail -c "$size" "${var^^}.auth") "${var^^}.esl"
done

# The build's list of image hashes, signed by the first KEK.
hash-to-efi-sig-list "$EFI_BINARY" hashes.esl > /dev/null
for var in db dbx; do
	printf '{"esl": "%s", "signing_key_id": "replay-kek", "append": true}' "$(base64 -w 0 hashes.esl)" > "$var.json"
	post "/secureboot/$var" "$var.json" | jq -r .auth | base64 -d > "$var.auth"
	size=$(stat -c %s hashes.esl)
	cmp <(tail -c "$size" "$var.auth") hashes.esl
done

cp "$EFI_BINARY" image.efi
printf '{"key_id": "replay-db", "payload": "%s"}' "$(base64 -w 0 image.efi)" > efi.json
post /secureboot/efi efi.json | jq -r .signed | base64 -d > image.efi.signed
sbverify --cert replay-db.crt image.efi.signed

cp "$KERNEL_MODULE" module.ko
printf '{"key_id": "replay-kmod", "payload": "%s"}' "$(base64 -w 0 module.ko)" > kmod.json
post /kmod/sign kmod.json | jq -r .signed | base64 -d > module.signed.ko
curl --fail --silent "${SIGN_API}/kmod/cert/replay-kmod" | jq -r .cert > kmod.crt
/usr/sbin/modinfo ./module.signed.ko | grep -q "signer: *replay-kmod"

echo "replay: all checks passed"
