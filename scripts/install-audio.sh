#!/usr/bin/env bash
# FluidSynth and a small General MIDI soundfont, for `seqgen convert wav` and `seqgen sample --wav`
# (and their tests). Debian/Ubuntu: apt (as root, or with sudo); macOS: Homebrew. Never fails:
# without them seqgen still writes MIDI, and the audio tests skip and say why.
set -u
have() { command -v "$1" >/dev/null 2>&1; }
if have fluidsynth && { [ -e /usr/share/sounds/sf2/TimGM6mb.sf2 ] || [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || [ -n "${SEQGEN_SOUNDFONT:-}" ]; }; then
    echo "audio: FluidSynth and a soundfont are installed"
    exit 0
fi
if have apt-get; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if have sudo; then sudo="sudo -n"; else echo "audio: not root and no sudo; skipping (install fluidsynth timgm6mb-soundfont yourself)"; exit 0; fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    pkgs="fluidsynth timgm6mb-soundfont"
    $sudo apt-get install -y -q --no-install-recommends $pkgs \
        || { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends $pkgs; } \
        || echo "audio: apt could not install $pkgs; the audio tests will skip"
elif have brew; then
    brew install fluid-synth || echo "audio: brew could not install fluid-synth"
    echo "audio: also download a General MIDI .sf2 soundfont and set SEQGEN_SOUNDFONT to its path"
else
    echo "audio: no apt-get or brew here; install FluidSynth and a General MIDI soundfont yourself"
fi
exit 0
