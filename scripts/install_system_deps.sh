#!/usr/bin/env bash
# Install the Debian packages llm2fx-lab uses, only those that are missing:
#   fluidsynth + fluid-soundfont-gm  (offline General MIDI rendering for examples and data)
#   chromium + chromium-driver       (real-browser tests of the widgets)
#   nodejs + npm                     (playwright-core, which drives that chromium)
set -euo pipefail
need=()
command -v fluidsynth >/dev/null 2>&1 || need+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "install_system_deps: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_deps: missing ${need[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi
echo "install_system_deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
