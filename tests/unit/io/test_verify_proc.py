"""The pieces of verify's engine side that need no engine: reading a file under a root fd
without following symlinks, /proc status and cgroup parsing, `docker top` parsing, and the
host file's identity (symlink out of the secrets dir)."""

from __future__ import annotations

import hashlib
import os

import pytest

from titan_deploy.core.containers import PROC_ROOT
from titan_deploy.io import procfs
from titan_deploy.io.engine import processes_from_top
from titan_deploy.ops.stack import host_file


@pytest.fixture
def root(tmp_path):
    (tmp_path / "run" / "secrets").mkdir(parents=True)
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    yield tmp_path, fd
    os.close(fd)


def test_read_file_hashes_through_the_root_fd(root) -> None:
    path, fd = root
    (path / "run/secrets/token").write_bytes(b"abc")
    os.chmod(path / "run/secrets/token", 0o640)
    stat = procfs.read_file(fd, "/run/secrets/token")
    assert stat is not None and stat.exists and stat.method == PROC_ROOT
    assert stat.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert stat.mode == 0o640 and stat.ino == os.stat(path / "run/secrets/token").st_ino
    assert stat.ctime is not None


def test_read_file_never_follows_a_symlink(root, tmp_path_factory) -> None:
    """A symlink in the container could point at a host file when walked from the host."""
    path, fd = root
    outside = tmp_path_factory.mktemp("host") / "shadow"
    outside.write_bytes(b"host")
    (path / "run/secrets/link").symlink_to(outside)
    assert procfs.read_file(fd, "/run/secrets/link") is None  # left to the archive API
    os.rename(path / "run/secrets", path / "run/real")
    (path / "run/secrets").symlink_to(outside.parent)
    assert procfs.read_file(fd, "/run/secrets/shadow") is None


def test_read_file_missing_and_not_regular(root) -> None:
    path, fd = root
    assert procfs.read_file(fd, "/run/secrets/nothing").exists is False
    os.mkfifo(path / "run/secrets/fifo")
    fifo = procfs.read_file(fd, "/run/secrets/fifo")  # must not block on open
    assert fifo is not None and not fifo.exists and fifo.error == "not a regular file"
    assert procfs.read_file(fd, "/run/../etc/passwd").exists is False


def test_status_gives_fs_ids_groups_and_dac_capabilities() -> None:
    status = (
        "Name:\tphp-fpm\nState:\tS (sleeping)\nUid:\t33\t33\t33\t34\nGid:\t33\t33\t33\t35\n"
        "Groups:\t33 10500 \nCapEff:\t0000000000000004\n"
    )
    fields = procfs.parse_status(status)
    proc = procfs.process_from_status(12, fields, ("php-fpm: pool www",), frozenset(), frozenset())
    assert (proc.pid, proc.comm, proc.uid, proc.gid) == (12, "php-fpm", 34, 35)
    assert proc.groups == frozenset({33, 10500})
    assert proc.dac_override is True  # CAP_DAC_READ_SEARCH
    none = procfs.process_from_status(
        1, procfs.parse_status("Uid:\t0\t0\t0\t0\nGroups:\t\n"), (), None, frozenset()
    )
    assert none.dac_override is False and none.groups == frozenset()


def test_read_process_of_this_process() -> None:
    me = procfs.read_process(os.getpid(), frozenset({"/nowhere"}))
    assert me is not None and me.uid == os.geteuid()
    assert me.env_names is not None and "PATH" in me.env_names
    assert me.argv and me.argv[0]


def test_cgroup_procs_files_v1_and_v2() -> None:
    v1 = "9:name=systemd:/docker/abc\n8:pids:/docker/abc\n1:cpu,cpuacct:/docker/abc\n"
    v1 += "0::/docker/abc\n"
    assert procfs.cgroup_procs_files(v1) == [
        "/sys/fs/cgroup/systemd/docker/abc/cgroup.procs",
        "/sys/fs/cgroup/pids/docker/abc/cgroup.procs",
        "/sys/fs/cgroup/docker/abc/cgroup.procs",
        "/sys/fs/cgroup/unified/docker/abc/cgroup.procs",
    ]
    v2 = "0::/system.slice/docker-abc.scope\n"
    assert (
        procfs.cgroup_procs_files(v2)[0]
        == "/sys/fs/cgroup/system.slice/docker-abc.scope/cgroup.procs"
    )


def test_docker_top_rows_become_processes() -> None:
    doc = {
        "Titles": ["PID", "FSUID", "FSGID", "SUPGID", "COMMAND", "COMMAND"],
        "Processes": [
            ["901", "0", "0", "-", "apache2", "apache2 -DFOREGROUND"],
            ["905", "33", "33", "33", "apache2", "apache2 -DFOREGROUND"],
            ["906", "1000", "1000", "1000,10500", "sh", "sh -c loop"],
        ],
    }
    procs = processes_from_top(doc)
    assert procs is not None
    assert [(p.pid, p.uid, p.groups) for p in procs] == [
        (901, 0, frozenset()),
        (905, 33, frozenset({33})),
        (906, 1000, frozenset({1000, 10500})),
    ]
    assert all(p.env_names is None and p.dac_override is None for p in procs)
    assert processes_from_top({"Titles": ["PID", "CMD"], "Processes": [["1", "x"]]}) is None


def test_host_file_identity_and_symlink_out_of_the_dir(tmp_path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "a").write_bytes(b"one")
    inside = host_file(secrets / "a")
    assert inside is not None and inside.sha256 == hashlib.sha256(b"one").hexdigest()
    assert inside.ino == os.stat(secrets / "a").st_ino and not inside.problem
    (secrets / "b").symlink_to("a")
    assert host_file(secrets / "b").problem == ""
    (tmp_path / "elsewhere").write_bytes(b"one")
    (secrets / "c").symlink_to(tmp_path / "elsewhere")
    assert host_file(secrets / "c").problem == "is a symlink resolving outside the secrets dir"
    assert host_file(secrets / "missing") is None


def test_inspect_gives_pid_and_every_mount_point() -> None:
    from titan_deploy.io.engine import container_info

    attrs = {
        "Id": "abc",
        "State": {"Pid": 4242, "Status": "running"},
        "Mounts": [{"Type": "bind", "Destination": "/run/secrets/a"}],
        "HostConfig": {"Tmpfs": {"/run/agent": "size=1m"}},
    }
    info = container_info(attrs)
    assert info.pid == 4242
    assert info.mounts == ("/run/secrets/a", "/run/agent")
    assert container_info({"Id": "abc"}).mounts is None  # unknown: no mount check at all


@pytest.fixture
def pid_dir(tmp_path):
    """A stand-in for /proc/<pid>: its `root` is the container's root."""
    (tmp_path / "root" / "etc").mkdir(parents=True)
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    yield tmp_path, fd
    os.close(fd)


def test_read_text_reads_the_containers_own_file(pid_dir) -> None:
    path, fd = pid_dir
    (path / "root/etc/passwd").write_text("app:x:1000:1000::/:/bin/sh\n")
    assert procfs.read_text(fd, "/etc/passwd") == "app:x:1000:1000::/:/bin/sh\n"
    assert procfs.read_text(fd, "/etc/group") is None  # missing: the archive API decides


def test_read_text_never_follows_a_symlink_nor_reads_a_giant_or_odd_file(
    pid_dir, tmp_path_factory
) -> None:
    path, fd = pid_dir
    host = tmp_path_factory.mktemp("host") / "passwd"
    host.write_text("host:x:0:0::/:/bin/sh\n")
    (path / "root/etc/passwd").symlink_to(host)
    assert procfs.read_text(fd, "/etc/passwd") is None
    os.rename(path / "root/etc", path / "root/real")
    (path / "root/etc").symlink_to(host.parent)
    assert procfs.read_text(fd, "/etc/passwd") is None
    (path / "root/real/group").write_bytes(b"x" * 65)
    assert procfs.read_text(fd, "/real/group", limit=64) is None
    assert procfs.read_text(fd, "/real/group", limit=65) == "x" * 65
    os.mkfifo(path / "root/real/fifo")
    assert procfs.read_text(fd, "/real/fifo") is None  # must not block on open
    assert procfs.read_text(fd, "/real/../real/group") is None
