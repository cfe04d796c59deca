#!/usr/bin/env bash
# Debian packages the tests and local runs need beyond Python. Idempotent: installs only what
# is missing, and needs root (or sudo) only then.
set -euo pipefail

packages=(chromium fonts-noto-cjk)  # Debian package names, added as features need them (chromium + CJK fonts: e2e browser tests)
# fonts-arphic-uming, fonts-wqy-microhei: TrueType CJK fonts reportlab can embed in agreement PDFs (Noto CJK
# is CFF-based, which reportlab cannot load); poppler-utils: pdftotext/pdftoppm for the PDF tests.
packages+=(fonts-arphic-uming fonts-wqy-microhei poppler-utils)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
