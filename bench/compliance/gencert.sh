#!/usr/bin/env bash
# Writes a throw-away self-signed P-256 certificate for localhost and
# 127.0.0.1 into DIR (cert.pem, key.pem), for the compliance run only.
#
#   bench/compliance/gencert.sh DIR [DAYS]
set -euo pipefail
dir=${1:?usage: gencert.sh DIR [DAYS]}
days=${2:-90}
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" -days "$days" \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$dir/key.pem"
