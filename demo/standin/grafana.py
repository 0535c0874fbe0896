"""Grafana stand-in: GF_<X>__FILE secrets (double underscore), /api/health on 3000.

Like Grafana, it reads GF_SECURITY_ADMIN_PASSWORD from GF_SECURITY_ADMIN_PASSWORD__FILE and
refuses to start (exit 1, one line naming the file, never its content) when it cannot read it.
Runs as whatever user compose says (prod: uid 472).
"""

from __future__ import annotations

import os
import pwd

from . import common
from .common import App, Metrics, log

DATA_DIR = "/var/lib/grafana"


def main() -> None:
    uid, gid = os.getuid(), os.getgid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "?"
    log.info("running as uid=%d(%s) gid=%d groups=%s", uid, name, gid, sorted(os.getgroups()))
    common.load_secrets_or_exit(separator="__FILE", prefix="GF_")
    common.require("GF_SECURITY_ADMIN_PASSWORD")
    log.info("admin user %s", os.environ.get("GF_SECURITY_ADMIN_USER", "admin"))
    if os.access(DATA_DIR, os.W_OK):
        log.info("data dir %s is writable", DATA_DIR)
    else:
        log.warning("data dir %s is not writable by uid %d", DATA_DIR, uid)
    port = int(os.environ.get("GF_SERVER_HTTP_PORT") or 3000)
    common.serve(App("grafana", Metrics(), healthy=lambda: True), port)
