#!/usr/bin/env bash
# `make dev`: bring up the dev environment on this machine, end to end.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$ENVSTACK_ROOT"

state="$ENVSTACK_ROOT/.envstack"
mkdir -p "$state/backend"
chmod 700 "$state"
# The dev stack's state stays on this machine, encrypted with a passphrase generated
# once and readable only by you.
if [ ! -s "$state/passphrase" ]; then
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$state/passphrase")
fi
export PULUMI_BACKEND_URL="file://$state/backend"
export PULUMI_CONFIG_PASSPHRASE_FILE="$state/passphrase"

python -m envstack localdb start --stack dev
pulumi stack select dev 2>/dev/null || pulumi stack init dev
pulumi up --stack dev --yes --skip-preview
echo "envstack: dev is up; the app's variables are in .env.local" >&2
