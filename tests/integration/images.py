"""Test images built locally (no registry here; ARCHITECTURE.md "Tests"): a tiny busybox-static
base.

`docker import` of a rootfs tarball holding Debian's static busybox, an /etc/passwd with root and
an unprivileged `app` (uid 1000), and /etc/group. Cached by tag; labelled so only test resources
are ever cleaned up.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX_TAG = "titan-test/busybox:1"
TEST_LABEL = "org.titan-deploy.test=1"
APPLETS = ["sh", "sleep", "cat", "true", "false", "echo", "env", "id", "ls", "wget", "nc", "trap"]
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\n"


def busybox_binary() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    if not path.exists():
        raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")
    return path


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def ensure_busybox_image() -> str:
    if image_exists(BUSYBOX_TAG):
        return BUSYBOX_TAG
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        _add_file(tar, "bin/busybox", busybox_binary().read_bytes(), 0o755)
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        _add_file(tar, "etc/passwd", PASSWD.encode(), 0o644)
        _add_file(tar, "etc/group", GROUP.encode(), 0o644)
        for directory in ("tmp", "run", "home/app"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
    subprocess.run(
        ["docker", "import", "--change", f"LABEL {TEST_LABEL}", "-", BUSYBOX_TAG],
        input=data.getvalue(),
        check=True,
        capture_output=True,
    )
    return BUSYBOX_TAG


def _add_file(tar: tarfile.TarFile, name: str, content: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = mode
    tar.addfile(info, io.BytesIO(content))
