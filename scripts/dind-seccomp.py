#!/usr/bin/env python3
"""Derives seccomp-userns.json from moby's default profile (github.com/moby/profiles/seccomp v0.2.4):
the namespace and mount syscalls a rootless daemon needs become allowed without CAP_SYS_ADMIN.
The kernel still checks each of them against the caller's user namespace: outside the run's own
user namespace the container holds no CAP_SYS_ADMIN, so mount/setns/pivot_root there fail with EPERM."""
import json, sys
src, dst = sys.argv[1], sys.argv[2]
d = json.load(open(src))
extra = ["clone", "clone3", "unshare", "setns", "mount", "umount", "umount2", "mount_setattr",
         "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "pivot_root",
         "sethostname", "setdomainname", "chroot", "keyctl", "add_key", "request_key"]
out = []
for s in d["syscalls"]:
    names = s["names"]
    # drop the conditional clone/clone3 rules: clone and clone3 are now allowed outright
    if names in (["clone"], ["clone3"]) and (s.get("args") or s.get("action") != "SCMP_ACT_ALLOW" or s.get("excludes")):
        continue
    if s.get("includes", {}).get("caps") == ["CAP_SYS_ADMIN"]:
        # the rest of this block (bpf, perf_event_open, fanotify_init, quotactl, syslog, ...) stays
        # denied even though moat-init holds CAP_SYS_ADMIN for a moment at start
        continue
    if s.get("includes", {}).get("caps") == ["CAP_SYS_CHROOT"]:
        continue
    out.append(s)
out.insert(1, {"names": extra, "action": "SCMP_ACT_ALLOW",
               "comment": "moat docker:dind (userns): namespaces and mounts inside the run's own user namespace"})
d["syscalls"] = out
json.dump(d, open(dst, "w"), indent=1)
