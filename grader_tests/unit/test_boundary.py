"""The trust boundary's parts, tried as an attacker would: links, FIFOs, sparse files, floods,
relative paths, and a self-test that must fail when isolation fails."""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from cnnkit_grader.boundary import cgroups, files, intake, modelfile, sandbox

LIMITS = files.Limits(files=3, file_bytes=1000, total_bytes=1500)


@pytest.fixture
def hostile(tmp_path):
    """A folder as a sandbox could leave it: links out, a FIFO, a sparse giant, too many files."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the gradebook")
    folder = tmp_path / "work"
    (folder / "sub").mkdir(parents=True)
    (folder / "ok.txt").write_text("fine")
    (folder / "link.txt").symlink_to(secret)
    (folder / "sub" / "link_dir").symlink_to(tmp_path)
    (folder / "sub" / "deep.txt").write_text("fine too")
    os.mkfifo(folder / "pipe")
    with open(folder / "sparse.bin", "wb") as out:
        out.truncate(10 * 2**30)
    for i in range(5):
        (folder / f"m{i}.keras").write_bytes(b"x" * 400)
    return folder


def test_non_regular_finds_every_link_and_fifo_at_any_depth(hostile):
    assert files.non_regular(hostile) == ["link.txt", "pipe", "sub/link_dir"]


def test_take_never_follows_a_link_never_blocks_on_a_fifo_and_stops_at_the_limits(hostile, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    names = ["link.txt", "pipe", "sparse.bin", "ok.txt"] + [f"m{i}.keras" for i in range(5)]
    taken = files.take(hostile, names, target, LIMITS)
    assert taken.names == ["ok.txt", "m0.keras", "m1.keras"]
    assert "link.txt (a link or unreadable)" in taken.refused
    assert "pipe (not a regular file)" in taken.refused
    assert "sparse.bin (10,240 MB; at most 0 MB)" in taken.refused
    assert "m3.keras (more than 3 files)" in taken.refused
    assert sorted(p.name for p in target.iterdir()) == ["m0.keras", "m1.keras", "ok.txt"]


def test_take_refuses_a_folder_that_is_a_link(hostile, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    assert files.take(hostile / "sub" / "link_dir", ["secret.txt"], target, LIMITS).names == []


def test_copy_tree_copies_regular_files_only(hostile, tmp_path):
    target = tmp_path / "copy"
    target.mkdir()
    taken = files.copy_tree(hostile, target, files.Limits(files=100, file_bytes=2**20, total_bytes=2**21),
                            skip=lambda name: name.endswith(".keras"))
    assert sorted(taken.names) == ["ok.txt", "sub/deep.txt"]
    assert {r.split(" ")[0] for r in taken.refused} == {"link.txt", "pipe", "sparse.bin", "sub/link_dir"}
    assert not (target / "link.txt").exists() and not (target / "sub" / "link_dir").exists()


def test_a_notebook_that_is_a_link_is_not_read(tmp_path):
    real = tmp_path / "other_student.ipynb"
    real.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    link = tmp_path / "compile_and_train.ipynb"
    link.symlink_to(real)
    with pytest.raises(OSError):
        intake.read_notebook(link)
    assert intake.read_notebook(real).cells == []


def test_the_sandbox_command_sizes_tmp_and_shm_and_makes_dev_read_only(tmp_path):
    with sandbox.slot() as slot:
        argv = sandbox.command(["true"], slot, writable=[tmp_path], with_data=False)
    text = " ".join(argv)
    assert f"--size {sandbox.TMP_BYTES} --perms 1777 --tmpfs /tmp" in text
    assert f"--size {sandbox.SHM_BYTES} --perms 1777 --tmpfs /dev/shm" in text
    assert "--remount-ro /dev" in text and "--unshare-net" in text and "--clearenv" in text
    root = str(Path(__file__).resolve().parents[2])
    binds = [argv[i + 1] for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind", "--ro-bind-try")]
    assert root not in binds and not any(b in (root + "/source", root + "/submitted") for b in binds)
    if os.geteuid() == 0:
        assert f"--reuid={slot.uid}" in text and f"--nproc={sandbox.PROCESS_LIMIT}" in text


@pytest.mark.skipif(os.geteuid() != 0, reason="slot users exist only when grading as root")
def test_two_submissions_at_once_get_two_users():
    with sandbox.slot() as first, sandbox.slot() as second:
        assert first.uid != second.uid and first.name != second.name


@pytest.fixture
def scratch(tmp_path):
    with sandbox.scratch_folder() as (folder, _):
        (folder / "compile_and_train.ipynb").write_text("{}")
        yield folder


def _self_test(scratch, hidden):
    with sandbox.slot() as slot:
        sandbox.give(scratch, slot, include_root=False)
        sandbox.self_test(slot, scratch, [scratch], files.list_names(scratch), hidden)


def test_the_self_test_passes_when_the_course_is_out_of_reach(scratch, cifar_dir):
    root = Path(__file__).resolve().parents[2]
    _self_test(scratch, [root / "source", root / "submitted", root / ".git", cifar_dir])


def test_the_self_test_fails_when_a_hidden_path_is_visible(scratch):
    (scratch / "gradebook.db").write_text("pretend")
    with pytest.raises(sandbox.IsolationError, match="can see .*gradebook.db"):
        _self_test(scratch, [scratch / "gradebook.db"])


def test_the_self_test_fails_when_the_folder_holds_more_than_the_submission(scratch):
    with sandbox.slot() as slot:
        sandbox.give(scratch, slot, include_root=False)
        with pytest.raises(sandbox.IsolationError, match="not only the submission's files"):
            sandbox.self_test(slot, scratch, [scratch], ["something_else.ipynb"], [])


USERNS = ("import ctypes, os\n"
          "libc = ctypes.CDLL(None, use_errno=True)\n"
          "print('unshare', libc.unshare(0x10000000), os.strerror(ctypes.get_errno()), flush=True)\n"
          "print('clone', os.system('unshare --user true'), flush=True)\n"
          "import threading; t = threading.Thread(target=print, args=('thread ran',)); t.start(); t.join()\n"
          "import subprocess; print(subprocess.run(['echo', 'child ran'], capture_output=True, text=True).stdout)\n")


def test_sandboxed_code_cannot_make_a_user_namespace_but_runs_threads_and_children():
    """unshare(CLONE_NEWUSER) and unshare(1)'s clone are refused; threads (clone3, then clone) and
    subprocesses still work. The self-test checks the first on every grading."""
    import subprocess
    import sys
    with sandbox.slot() as slot:
        done = subprocess.run(sandbox.command([sys.executable, "-c", USERNS], slot, with_data=False),
                              capture_output=True, text=True, timeout=60)
    assert "unshare -1 Operation not permitted" in done.stdout, done.stdout + done.stderr
    assert "clone 0" not in done.stdout and "clone " in done.stdout
    assert "thread ran" in done.stdout and "child ran" in done.stdout


def test_a_sandboxed_process_starts_with_the_kits_allocator_setting():
    """glibc reads MALLOC_ARENA_MAX only as a process starts: the sandbox sets it for every
    kernel, probe and measurement (cnnkit/kernel_env.py), whatever the grader's own is."""
    import subprocess
    import sys
    with sandbox.slot() as slot:
        argv = sandbox.command([sys.executable, "-c", "import os; print(os.environ.get('MALLOC_ARENA_MAX'))"],
                               slot, with_data=False)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, MALLOC_ARENA_MAX="8"))
    assert done.stdout.split() == ["2"], done.stdout + done.stderr


def test_unfiltered_the_same_code_makes_a_user_namespace():
    """The test above can fail: without --seccomp, the same code makes its namespace here."""
    import subprocess
    import sys
    with sandbox.slot() as slot:
        argv = sandbox.command([sys.executable, "-c", USERNS], slot, with_data=False)
        at = argv.index("--seccomp")
        del argv[at:at + 2]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert "unshare 0" in done.stdout, done.stdout + done.stderr


def test_a_lambda_layer_is_refused_before_anything_loads_it(tmp_path):
    import keras

    marker = tmp_path / "lambda-ran"
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t, path=str(marker): (open(path, "w").write("ran"), t)[1])(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "bad.keras")
    marker.unlink(missing_ok=True)  # building the model ran it once, here, in the test
    with pytest.raises(modelfile.UnsafeModel, match="Lambda"):
        modelfile.read_config(tmp_path / "bad.keras")
    from cnnkit_grader.boundary import measurement
    models = measurement.check_files({"saved": tmp_path / "bad.keras"})
    assert models["saved"].rejected and models["saved"].config is None
    assert not marker.exists()


def test_a_folder_nested_deeper_than_the_limit_is_refused_not_walked(tmp_path):
    deep = tmp_path / "deep"
    path = deep
    for _ in range(files.MAX_DEPTH + 5):
        path = path / "d"
    path.mkdir(parents=True)
    (path / "x.txt").write_text("bottom")
    assert files.non_regular(deep) == ["/".join(["d"] * (files.MAX_DEPTH + 1))]
    target = tmp_path / "copy"
    target.mkdir()
    taken = files.copy_tree(deep, target, files.Limits(files=10, file_bytes=100, total_bytes=100))
    assert taken.names == [] and taken.refused[0].endswith("(nested too deep)")


def test_a_submission_folder_that_is_a_link_is_refused_whole(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("solutions")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert files.non_regular(tmp_path / "link") == ["."]
    with pytest.raises(OSError):
        files.copy_tree(tmp_path / "link", tmp_path, LIMITS)


def test_the_hand_over_folder_cannot_be_renamed_by_the_slot_user(tmp_path):
    """The kernel's folder is sticky and the grader's: a hostile kernel cannot swap the hand-over folder."""
    import subprocess
    from cnnkit_grader.boundary import handover
    with sandbox.scratch_folder() as (folder, _), sandbox.slot() as slot:
        (folder / "mine.txt").write_text("the student's file")
        sandbox.give(folder, slot, include_root=False)  # as GuardedExecute does, then:
        handover.make_folder(folder, slot)
        script = ("import os\n"
                  f"for attempt in (lambda: os.rename({handover.FOLDER!r}, 'x'),\n"
                  f"                lambda: os.rmdir({handover.FOLDER!r}),\n"
                  f"                lambda: open('{handover.FOLDER}/forged.json', 'w')):\n"
                  "    try:\n        attempt(); print('DONE')\n    except OSError as err:\n        print('refused', err.errno)\n"
                  "os.rename('mine.txt', 'renamed.txt'); print('own file ok')\n")
        import sys
        argv = sandbox.command([sys.executable, "-c", script], slot, writable=[folder], cwd=folder, with_data=False)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if os.geteuid() == 0:
        assert done.stdout.count("refused") == 3 and "DONE" not in done.stdout, done.stdout + done.stderr
    assert "own file ok" in done.stdout, done.stderr


@pytest.mark.skipif(cgroups.mode() is None, reason="this machine lets the grader make no control groups")
def test_a_slot_bounds_the_memory_of_all_its_processes_together():
    """Three processes of 150 MB each stay under a per-process limit, but not under the slot's 300 MB."""
    import subprocess
    import sys
    script = ("import os, time\n"
              "for _ in range(2):\n"
              "    if os.fork() == 0:\n"
              "        break\n"
              "print('started', flush=True)\n"
              "block = bytearray(150 * 2**20)\n"
              "for i in range(0, len(block), 4096): block[i] = 1\n"
              "time.sleep(2)\n"
              "print('survived', flush=True)\n")
    with sandbox.slot() as slot:
        groups = cgroups.slot_groups(slot.name, memory=300 * 2**20)
        argv = sandbox.command([sys.executable, "-c", script], dataclasses.replace(slot, groups=groups),
                               with_data=False)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        cgroups.slot_groups(slot.name)  # back to the slot's own limits
    assert done.stdout.count("started") == 3, done.stdout + done.stderr  # the sandbox ran all three
    assert done.stdout.count("survived") < 3


# ---------------------------------------------------------------- issue 14: another account, a slot's leftovers
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="slot users and private folders need root")
NOBODY = 65534


def _as_user(uid, code, *args, gid=None):
    """Run Python code as an unprivileged account (not a slot user, not root), as an intruder would."""
    import subprocess
    import sys
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups",
                           sys.executable, "-I", "-S", "-c", code, *map(str, args)],
                          capture_output=True, text=True, timeout=60)


_INTRUDE = r"""
import os, sys
got = []
for path in sys.argv[1:]:
    for name, attempt in (("list", lambda: os.listdir(path)),
                          ("read", lambda: open(path, "rb").read(1)),
                          ("write", lambda: open(os.path.join(path, "planted"), "w").write("x"))):
        try:
            attempt()
            got.append(name + " " + path)
        except OSError:
            pass
print("\n".join(got))
"""


@ROOT_ONLY
def test_another_account_reaches_no_folder_the_grader_makes_for_a_submission(tmp_path):
    """Every folder of a submission (scratch, kernel runtime, probe and measurement) is private."""
    from cnnkit_grader.boundary import measurement, probe
    with sandbox.slot() as slot, sandbox.scratch_folder(slot_=slot) as (scratch, _), \
            sandbox.scratch_folder("cnnkit-kernel-", sandbox.RUNTIME_BYTES, slot) as (runtime, _):
        (scratch / "compile_and_train.ipynb").write_text("{}")
        sandbox.give(scratch, slot, include_root=False)
        sandbox.give(runtime, slot)
        probe_in = sandbox.private_folder(slot, "cnnkit-probe-in-")
        (probe_in / "arrays.npz").write_bytes(b"fresh inputs")
        sandbox.give(probe_in, slot)
        evaluator = measurement.Evaluator(slot, None)
        (evaluator.folder / "model0.keras").write_bytes(b"a model")
        sandbox.give(evaluator.folder, slot)
        paths = [p for top in (slot.folder,) for p in [top, *top.rglob("*")]]
        done = _as_user(NOBODY, _INTRUDE, *paths)
        modes = {str(p): oct(p.stat().st_mode & 0o7777) for p in paths}
    assert len(paths) >= 8, paths      # it tried the folders and files the grader made, not nothing
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"another account got: {done.stdout}\n{modes}"
    assert not slot.folder.exists(), "the slot's folder outlived the submission"
    assert probe.ProbeRun  # the probe makes its folders the same way (sandbox.private_folder)


@ROOT_ONLY
def test_a_deep_tree_in_a_scratch_folder_never_fails_the_clean_up():
    """A tree deeper than Python's recursion: shutil.rmtree raises on it; the clean-up removes it."""
    import shutil
    import subprocess
    import tempfile

    def deep_tree(top, depth=1500):
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(fd)
    # Not in tmp_path: pytest's own clean-up of old runs is shutil.rmtree, which this tree defeats.
    control = Path(tempfile.mkdtemp(prefix="cnnkit-test-deep-"))
    try:
        deep_tree(control)
        with pytest.raises((RecursionError, OSError)):
            shutil.rmtree(control)
        assert files.remove_tree(control) and not control.exists()
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(control)])
    with sandbox.slot() as slot:
        with sandbox.scratch_folder(slot_=slot) as (folder, _):
            deep_tree(folder)
        assert not folder.exists()
        with sandbox.scratch_folder("cnnkit-kernel-", sandbox.RUNTIME_BYTES, slot) as (runtime, sized):
            if sized:  # the kernel's runtime folder is a tmpfs of its own: a size limit
                assert os.statvfs(runtime).f_blocks * os.statvfs(runtime).f_frsize <= sandbox.RUNTIME_BYTES


_KEYS = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY, KEYCTL, SEARCH, USER = 248, 250, 10, -4
if sys.argv[1] == "plant":
    print("planted", libc.syscall(ADD_KEY, b"user", b"cnnkit-plant", b"secret", ctypes.c_size_t(6), ctypes.c_int(USER)) > 0)
else:
    found = libc.syscall(KEYCTL, ctypes.c_int(SEARCH), ctypes.c_long(USER), b"user", b"cnnkit-plant", ctypes.c_long(0))
    print("found" if found > 0 else "not found")
"""


def _in_sandbox(slot, code, *args):
    import subprocess
    import sys
    argv = sandbox.command([sys.executable, "-I", "-c", code, *args], slot, with_data=False)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@ROOT_ONLY
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the test's syscall numbers are x86_64's")
def test_a_key_planted_by_one_submission_cannot_be_read_by_the_next_in_the_slot(monkeypatch):
    monkeypatch.setenv(sandbox.USERS_VAR, sandbox.DEFAULT_USERS[-1])
    with sandbox.slot() as slot:
        assert "planted True" in _in_sandbox(slot, _KEYS, "plant").stdout
        same = _in_sandbox(slot, _KEYS, "search").stdout   # the plant works: within one submission
    with sandbox.slot() as slot:
        nxt = _in_sandbox(slot, _KEYS, "search")
    assert same.strip() == "found"
    assert nxt.stdout.strip() == "not found", nxt.stdout + nxt.stderr


_IPC = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
KEY, IPC_CREAT = 0x14C0FFEE, 0o1000
if sys.argv[1] == "plant":
    print("sysv", libc.shmget(KEY, 4096, IPC_CREAT | 0o666) >= 0, libc.shmget(KEY, 0, 0) >= 0)
    open("/dev/shm/cnnkit-plant", "w").write("secret")
    print("posix", os.path.exists("/dev/shm/cnnkit-plant"))
else:
    print("sysv", libc.shmget(KEY, 0, 0) >= 0)
    print("posix", os.path.exists("/dev/shm/cnnkit-plant"))
"""


@ROOT_ONLY
def test_shared_memory_left_by_one_submission_is_gone_for_the_next(monkeypatch):
    """bwrap's --unshare-ipc and private /dev/shm: System V and POSIX shared memory die with the sandbox."""
    monkeypatch.setenv(sandbox.USERS_VAR, sandbox.DEFAULT_USERS[-1])
    with sandbox.slot() as slot:
        planted = _in_sandbox(slot, _IPC, "plant").stdout.split()
        again = _in_sandbox(slot, _IPC, "look").stdout.split()
    assert planted == ["sysv", "True", "True", "posix", "True"]
    assert again == ["sysv", "False", "posix", "False"]
    assert "14c0ffee" not in Path("/proc/sysvipc/shm").read_text().lower()


def test_a_delegated_cgroup_v2_subtree_gets_the_slot_group_beside_a_leaf_for_the_grader(tmp_path):
    """As systemd does it: the grader's processes move to a leaf, then its group hands out controllers."""
    if os.geteuid() != 0:
        pytest.skip("only root makes control groups")
    root = tmp_path / "cgroup"
    base = root / "system.slice" / "grader.service"
    base.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (base / "cgroup.controllers").write_text("cpu memory pids\n")
    (base / "cgroup.subtree_control").write_text("")
    (base / "cgroup.procs").write_text("4242\n")
    proc = tmp_path / "self-cgroup"
    proc.write_text("0::/system.slice/grader.service\n")
    groups = cgroups.slot_groups("s1", memory=123, root=root, proc_cgroup=proc)
    assert groups.folders == (base / "cnnkit-s1",)
    assert (base / "grader" / "cgroup.procs").read_text() == "4242"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (base / "cnnkit-s1" / "memory.max").read_text() == "123"
    assert (base / "cnnkit-s1" / "pids.max").read_text() == str(cgroups.SLOT_PIDS)
    argv = cgroups.joining(groups, ["true"])
    assert str(base / "cnnkit-s1") in argv and argv[-1] == "true"


def test_a_cgroup_v2_group_that_cannot_be_delegated_is_unavailable_and_says_why(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root makes control groups")
    root = tmp_path / "cgroup"
    base = root / "user.slice"
    base.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (base / "cgroup.controllers").write_text("cpu pids\n")      # memory not delegated
    (base / "cgroup.subtree_control").write_text("")
    (base / "cgroup.procs").write_text("")
    proc = tmp_path / "self-cgroup"
    proc.write_text("0::/user.slice\n")
    with pytest.raises(cgroups.Unavailable, match="lacks the controllers memory"):
        cgroups.slot_groups("s1", root=root, proc_cgroup=proc)


def test_systemd_run_scope_carries_the_slot_limits(tmp_path):
    pid1 = tmp_path / "comm"
    pid1.write_text("systemd\n")
    groups = cgroups.systemd_scope("s1", memory=77, which=lambda name: "/usr/bin/systemd-run", pid1=pid1)
    argv = cgroups.joining(groups, ["python"])
    assert argv[:2] == ["/usr/bin/systemd-run", "--scope"] and "MemoryMax=77" in argv and argv[-1] == "python"
    pid1.write_text("init\n")
    with pytest.raises(cgroups.Unavailable, match="systemd is not PID 1"):
        cgroups.systemd_scope("s1", which=lambda name: "/usr/bin/systemd-run", pid1=pid1)


@ROOT_ONLY
def test_grading_refuses_when_the_slot_control_group_cannot_be_made(tmp_path, monkeypatch, caplog):
    """A real failure: a cgroup root on a read-only file system. Refused, unless allowed on purpose."""
    import subprocess
    root = tmp_path / "cgroup"
    root.mkdir()
    assert subprocess.run(["mount", "-t", "tmpfs", "cnnkit-test", str(root)]).returncode == 0
    try:
        for name in cgroups.V1_LIMITS:
            (root / name).mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        monkeypatch.setattr(cgroups, "ROOT", root)
        monkeypatch.delenv(cgroups.MODE_VAR, raising=False)
        with pytest.raises(sandbox.IsolationError, match=f"{cgroups.MODE_VAR}=optional"):
            with sandbox.slot():
                pass
        monkeypatch.setenv(cgroups.MODE_VAR, "optional")
        with caplog.at_level("WARNING"), sandbox.slot() as slot:
            assert not slot.groups
        assert "memory cap of a submission's processes together is OFF" in caplog.text
    finally:
        subprocess.run(["umount", str(root)])


@ROOT_ONLY
def test_what_a_killed_grading_left_in_its_slot_is_removed_by_the_slots_next_holder():
    """A worker killed mid-grade runs no clean-up: its private folder, with a tmpfs mounted in it
    and the submission inside, stays behind. The next submission in that slot removes it."""
    import subprocess
    import tempfile
    left = {}
    for name in sandbox.slot_users():
        stale = Path(tempfile.mkdtemp(prefix=f"cnnkit-submission-{name}-"))
        (stale / "cnnkit-work-x").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "cnnkit-scratch", str(stale / "cnnkit-work-x")],
                       check=True)
        (stale / "cnnkit-work-x" / "compile_and_train.ipynb").write_text("{}")
        left[name] = stale
    try:
        with sandbox.slot() as slot:
            taken = slot.name
            assert slot.folder.name.startswith(f"cnnkit-submission-{taken}-")
        assert not left[taken].exists(), "the slot's next holder left a killed grading's folder in place"
        assert f"{left[taken]}/" not in Path("/proc/self/mounts").read_text()
        assert all(stale.exists() for name, stale in left.items() if name != taken)  # other slots: not ours
    finally:
        for stale in left.values():
            subprocess.run(["umount", "-l", str(stale / "cnnkit-work-x")], capture_output=True)
            subprocess.run(["rm", "-rf", "--one-file-system", str(stale)], capture_output=True)


def test_a_killed_gradings_folders_are_swept_by_the_next_and_nothing_else_is(tmp_path, monkeypatch):
    """The hand-over folder of a grading and the pool's scratch are named after their process;
    the next one removes those whose process is gone (a SIGKILLed service left them before),
    never a live process's, a link, or a folder another account made under that name."""
    import subprocess
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"cnnkit-answers-{gone.pid}-abc"
    (dead / "saved").mkdir(parents=True)
    live = tmp_path / f"cnnkit-answers-{os.getppid()}-def"
    live.mkdir()
    target = tmp_path / "precious"
    target.mkdir()
    link = tmp_path / f"cnnkit-answers-{gone.pid}-lnk"
    link.symlink_to(target)
    theirs = tmp_path / f"cnnkit-answers-{gone.pid}-xyz"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    made = files.process_folder("cnnkit-answers-")
    assert made.name.startswith(f"cnnkit-answers-{os.getpid()}-") and oct(made.stat().st_mode & 0o777) == "0o700"
    assert not dead.exists()
    assert live.exists() and link.is_symlink() and target.exists() and theirs.exists()
