#!/bin/sh
# The example agent: shows who it runs as, what it can use, and does a small
# piece of work on the workspace without writing to it.
set -eu
echo "$GREETING"
echo "running as $(id -un) (uid $(id -u)) in $(pwd)"
echo "tools: $(git --version), jq $(jq --version), $(python --version 2>&1)"
echo '{"files": '"$(ls | python -c 'import json,sys; print(json.dumps(sys.stdin.read().split()))')"'}' | jq -c .
# The network: only what agent.yaml allows, through the run's proxy.
python - <<'PY'
import urllib.request, urllib.error
try:
    urllib.request.urlopen("http://example.com/", timeout=10)
    print("network: example.com reached (it should not be)")
except urllib.error.HTTPError as e:
    print("network: example.com blocked:", e.headers.get("X-Moat-Blocked"))
except Exception as e:
    print("network: example.com unreachable:", e)
PY
echo "done"
