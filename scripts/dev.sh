#!/usr/bin/env bash
# `make dev`: bring up the dev environment on this machine, end to end.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$ENVSTACK_ROOT"

state="$ENVSTACK_ROOT/.envstack"
if [ "${1:-}" = "--destroy" ]; then
  # Nothing was ever brought up here: no server to start and no stack to make just to find that.
  if [ ! -s "$state/passphrase" ] || [ ! -d "$state/backend" ] \
    || ! PULUMI_BACKEND_URL="file://$state/backend" pulumi stack ls --json 2>/dev/null | grep -q '"name": "dev"'; then
    echo "envstack: no dev stack on this machine; nothing to destroy" >&2
    exit 0
  fi
fi
mkdir -p "$state/backend"
chmod 700 "$state/backend"
# The dev stack's state stays on this machine, encrypted with a passphrase generated
# once and readable only by you.
if [ ! -s "$state/passphrase" ]; then
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$state/passphrase")
fi
export PULUMI_BACKEND_URL="file://$state/backend"
export PULUMI_CONFIG_PASSPHRASE_FILE="$state/passphrase"

# Pulumi writes the passphrase's salt into the stack's config file. Each developer has their
# own passphrase, so the salt is kept beside it and the committed Pulumi.dev.yaml stays clean.
config="$state/Pulumi.dev.yaml"
{ cat "$state/encryptionsalt" 2>/dev/null || true; cat Pulumi.dev.yaml; } > "$config"

python -m envstack localdb start --stack dev
if ! pulumi stack select dev 2>/dev/null; then
  committed=$(cat Pulumi.dev.yaml)
  pulumi stack init dev
  grep '^encryptionsalt:' Pulumi.dev.yaml > "$state/encryptionsalt"
  printf '%s\n' "$committed" > Pulumi.dev.yaml
  { cat "$state/encryptionsalt"; cat Pulumi.dev.yaml; } > "$config"
fi
if [ "${1:-}" = "--destroy" ]; then
  pulumi destroy --stack dev --yes --skip-preview --config-file "$config"
  echo "envstack: dev database, role and .env.local removed" >&2
  exit 0
fi
pulumi up --stack dev --yes --skip-preview --config-file "$config"
echo "envstack: dev is up; the app's variables are in .env.local" >&2
