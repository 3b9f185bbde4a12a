#!/usr/bin/env bash
# The project's whole test suite; `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
