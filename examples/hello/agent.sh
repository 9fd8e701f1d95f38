#!/bin/sh
# The example agent: shows who it runs as, what it can use, and does a small
# piece of work on the workspace without writing to it.
set -eu
echo "$GREETING"
echo "running as $(id -un) (uid $(id -u)) in $(pwd)"
echo "tools: $(git --version), jq $(jq --version), $(python --version 2>&1)"
echo '{"files": '"$(ls | python -c 'import json,sys; print(json.dumps(sys.stdin.read().split()))')"'}' | jq -c .
echo "done"
