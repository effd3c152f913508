#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) from bookworm-backports, so that Dawn (the `webgpu`
# npm package) finds an adapter on a machine without a GPU. Debian bookworm's own Mesa 22.3 is too old
# for Dawn; 25.x from backports works. Idempotent and quiet; needs root (or sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
have_lvp() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && ldconfig -p | grep -q 'libvulkan.so.1 '; }
mesa_ok() { v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true); [ -n "$v" ] && dpkg --compare-versions "$v" ge 23; }
if have_lvp && mesa_ok; then echo "vulkan: lavapipe already installed ($(dpkg-query -W -f='${Version}' mesa-vulkan-drivers))"; exit 0; fi
if [ -f /etc/debian_version ] && grep -q '^12' /etc/debian_version; then
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -f "$src" ]; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' | $SUDO tee "$src" >/dev/null
  fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
echo "vulkan: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
