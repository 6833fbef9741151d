"""Start one container's process in namespaces of its own, as a container runtime would.

tests/runtime_harness.py runs this file with the standard library only, as root, under
``unshare --mount --net --pid --fork --kill-child --propagation private``. The process
is therefore PID 1 of a new PID namespace, in a mount namespace whose changes never
reach the host, and in a network namespace that has only a loopback interface, so
nothing it sends leaves the machine.

With ``share_process_namespace`` (the pod's ``shareProcessNamespace``) the process
forks: the parent stays PID 1 and only reaps children, as the pod's pause container
does, and the child executes the command. The kubelet's stop signal goes to the
container's main process, so the command then gets the default SIGTERM action.

The file system it builds in that mount namespace is a tmpfs root that contains the
host's ``/usr`` and the entries of its ``/etc``, the Python installation and the virtual environment that
stand in for the image (all read-only), fresh ``/proc``, ``/sys`` and ``/dev``, and the
pod's volumes at their mount paths. With ``read_only_root`` the tmpfs is then made
read-only, as ``readOnlyRootFilesystem`` does, while the volumes stay writable. The
process then changes root, user and capabilities and executes the container's command.

Usage: python3 runtime_sandbox.py SPEC.json READY_FD
  SPEC.json  the plan that runtime_harness.py writes (keys are read in ``main``)
  READY_FD   a pipe; ``exec`` is written to it just before the command starts
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Device files a container runtime provides in /dev; each one is bound from the host.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True)


def bind_read_only(source: str, target: str) -> None:
    """Bind ``source`` at ``target`` read-only; submounts of ``source`` come along."""
    os.makedirs(target, exist_ok=True)
    mount("--rbind", source, target)
    mount("-o", "remount,bind,ro", target)


def bind_entries_read_only(source: str, target: str) -> None:
    """Bind each entry of ``source`` into ``target`` read-only, with symbolic links copied.

    ``target`` itself stays a directory of the root tmpfs, so a volume can be mounted
    at a path under it that the host lacks (``/etc/llamafactory``), as in an image.
    """
    os.makedirs(target)
    for entry in os.scandir(source):
        path = f"{target}/{entry.name}"
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), path)
        elif entry.is_dir():
            bind_read_only(entry.path, path)
        elif entry.is_file():
            open(path, "w").close()
            mount("--bind", entry.path, path)
            mount("-o", "remount,bind,ro", path)


def build_root(spec: dict) -> str:
    root = spec["root"]
    mount("-t", "tmpfs", "-o", "mode=0755,size=64m", "sandbox-root", root)

    bind_read_only("/usr", f"{root}/usr")
    bind_entries_read_only("/etc", f"{root}/etc")
    # Debian merges /bin, /lib, /lib64 and /sbin into /usr through symbolic links.
    for name in ("bin", "lib", "lib64", "sbin"):
        host = f"/{name}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{root}/{name}")
        elif os.path.isdir(host):
            bind_read_only(host, f"{root}/{name}")

    os.makedirs(f"{root}/proc")
    mount("-t", "proc", "proc", f"{root}/proc")
    bind_read_only("/sys", f"{root}/sys")

    dev = f"{root}/dev"
    os.makedirs(dev)
    mount("-t", "tmpfs", "-o", "mode=0755,size=1m", "sandbox-dev", dev)
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        mount("--bind", f"/dev/{name}", f"{dev}/{name}")
    os.symlink("/proc/self/fd", f"{dev}/fd")
    for number, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{number}", f"{dev}/{name}")

    for path in spec["image_paths"]:
        bind_read_only(path, root + path)

    for volume in spec["mounts"]:
        target = root + volume["target"]
        os.makedirs(target, exist_ok=True)
        if volume["tmpfs_size"] is not None:
            mount("-t", "tmpfs", "-o", f"size={volume['tmpfs_size']},mode=1777", "sandbox-memory", target)
        else:
            mount("--bind", volume["source"], target)
            if volume["read_only"]:
                mount("-o", "remount,bind,ro", target)

    # Container runtimes create a missing working directory, as runc does.
    os.makedirs(root + spec["working_dir"], exist_ok=True)
    if spec["read_only_root"]:
        mount("-o", "remount,ro", root)
    return root


def privilege_argv(spec: dict) -> list[str]:
    """Return the setpriv(1) prefix that sets the user and drops capabilities."""
    argv = ["/usr/bin/setpriv", "--reuid", str(spec["uid"]), "--regid", str(spec["gid"])]
    if spec["groups"]:
        argv.append("--groups=" + ",".join(str(group) for group in spec["groups"]))
    else:
        argv.append("--clear-groups")
    if spec["no_new_privileges"]:
        argv.append("--no-new-privs")
    if spec["drop_all_capabilities"]:
        # An empty bounding set leaves even UID 0 with no capabilities after exec.
        argv += ["--bounding-set=-all", "--inh-caps=-all"]
    return [*argv, "--"]


def reap_until_exit(main_pid: int) -> None:
    """Reap every child, as the pause container does, and exit when ``main_pid`` has exited.

    The exit status is the command's, or 128 + the signal that ended it, as a container
    runtime reports it. Leaving PID 1 ends the namespace's other processes, as the
    runtime does with a container's remaining processes when its main process exits.
    """
    while True:
        pid, status = os.wait()
        if pid == main_pid:
            os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def main() -> None:
    spec_path, ready_fd = sys.argv[1], int(sys.argv[2])
    with open(spec_path, encoding="utf-8") as file:
        spec = json.load(file)

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    root = build_root(spec)
    os.chroot(root)
    os.chdir(spec["working_dir"])

    if spec["share_process_namespace"]:
        main_pid = os.fork()
        if main_pid != 0:
            os.close(ready_fd)
            reap_until_exit(main_pid)

    os.write(ready_fd, b"exec\n")
    os.close(ready_fd)
    argv = privilege_argv(spec) + spec["argv"]
    os.execve(argv[0], argv, spec["env"])


if __name__ == "__main__":
    main()
