#!/usr/bin/env bash
# The Batch pool's start task (infra/modules/batch.bicep runs `/bin/bash start-task.sh` as the pool's
# admin auto-user, in the start task's working directory, where Batch has downloaded this script,
# batch_tasks.zip and requirements.txt with the node identity).
#
# It installs Python 3.11 if the image lacks it, builds a venv for this exact package (a folder named by
# the package's hash, so a re-run after a reboot reuses it and a new deployment gets a fresh one), points
# $AZ_BATCH_NODE_SHARED_DIR/sitelens/current at it (the task command runs current/bin/python), then runs
# `python -m batch_tasks.start --supervisor systemd`, which exits once the node server is warm, and only then
# deletes the venvs of older package versions.
set -euo pipefail

: "${AZ_BATCH_NODE_SHARED_DIR:?runs as a Batch start task}"
PYTHON_VERSION=3.11
HERE=$(pwd)
ROOT="$AZ_BATCH_NODE_SHARED_DIR/sitelens"

log() { printf '%s start-task: %s\n' "$(date -u +%FT%TZ)" "$*"; }

install_python() {
  if command -v "python$PYTHON_VERSION" >/dev/null && "python$PYTHON_VERSION" -c 'import venv, ensurepip' 2>/dev/null; then
    return
  fi
  log "installing python$PYTHON_VERSION"
  export DEBIAN_FRONTEND=noninteractive
  # Unattended upgrades may hold the dpkg lock on a fresh node: wait for it rather than fail.
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q "python$PYTHON_VERSION" "python$PYTHON_VERSION-venv"
}

build_venv() {
  local target=$1
  if [[ -f "$target/.complete" ]]; then
    log "venv $target already built"
    return
  fi
  log "building $target"
  rm -rf "$target"
  "python$PYTHON_VERSION" -m venv "$target"
  "$target/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$HERE/requirements.txt"
  # batch_tasks itself: the zip's contents on the venv's path (the package has no install metadata).
  mkdir -p "$target/app"
  "$target/bin/python" -m zipfile -e "$HERE/batch_tasks.zip" "$target/app"
  "$target/bin/python" - "$target/app" <<'PY'
import sys, sysconfig, pathlib
pathlib.Path(sysconfig.get_paths()["purelib"], "sitelens-node.pth").write_text(sys.argv[1] + "\n")
PY
  touch "$target/.complete"
}

main() {
  install_python
  mkdir -p "$ROOT"
  local version
  version=$(cat "$HERE/batch_tasks.zip" "$HERE/requirements.txt" | sha256sum | cut -c1-16)
  local venv="$ROOT/$version"
  build_venv "$venv"
  ln -sfn "$venv" "$ROOT/current.new"
  mv -T "$ROOT/current.new" "$ROOT/current"
  # The versioned path, not `current`: a new package changes the systemd unit, which restarts the server.
  cd "$AZ_BATCH_NODE_SHARED_DIR"
  "$venv/bin/python" -m batch_tasks.start --supervisor systemd  # its failure ends the script (set -e)
  # Older package versions, only now: until the server runs from this venv, the one systemd restored at boot
  # runs from an older one (its unit's ExecStart, its decode workers' python). No task uses them any more.
  find "$ROOT" -mindepth 1 -maxdepth 1 -type d ! -name "$version" -exec rm -rf {} +
}

main "$@"
