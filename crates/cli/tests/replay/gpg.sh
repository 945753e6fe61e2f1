#!/usr/bin/env bash
# Calls /gpg/* as the balenaOS build does for GRUB: the key fetched and
# dearmored for grub-mkimage --pubkey, the config and kernel signed with
# base64 -d into .sig files. gpgv checks each signature.
set -euo pipefail
: "${SIGN_API:?}" "${SIGN_API_KEY:?}" "${WORK:?}"
cd "$WORK"

post() {
	curl --fail --silent --show-error -X POST "${SIGN_API}$1" \
		-H "Content-Type: application/json" -H "X-API-Key: ${SIGN_API_KEY}" -d "@$2"
}

printf '{"name_real": "balenaOS", "name_comment": "replay", "name_email": "security@balena.io", "key_length": 4096}' > key.json
FPR=$(post /gpg/key key.json | jq -r .fingerprint)
curl --fail --silent "${SIGN_API}/gpg/keys" | jq -e --arg fpr "$FPR" '.keys | index($fpr) != null' > /dev/null
curl --fail --silent "${SIGN_API}/gpg/key/${FPR}" | jq -r .key > pubkey.asc
gpg --batch --yes --output pubkey.gpg --dearmor pubkey.asc

printf 'set default=0\nmenuentry "balenaOS" { linux /vmlinuz root=LABEL=resin-rootA }\n' > grub.cfg
head -c 8000000 /dev/urandom > vmlinuz
for file in grub.cfg vmlinuz; do
	printf '{"key_id": "%s", "payload": "%s"}' "$FPR" "$(base64 -w 0 "$file")" > "sign-$file.json"
	post /gpg/sign "sign-$file.json" | jq -r .signature | base64 -d > "$file.sig"
	gpgv --keyring ./pubkey.gpg "$file.sig" "$file"
done

echo "replay: all checks passed"
