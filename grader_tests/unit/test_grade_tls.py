"""Who may reach ./kit grade's cluster, and what it says when it will not start.

The local pool is attacked for real in grader_tests/unit/test_grade_engine.py (a peer without the
batch's credentials) and from another account in grader_tests/pipeline/test_grade_intruder.py;
the documented cluster in grader_tests/pipeline/test_grade_cluster_docs.py.
"""

import os
import stat

import pytest

from cnnkit_tools.grade import cli, clustercheck, tls


def refusal(**kw):
    with pytest.raises(tls.Refused) as raised:
        tls.for_scheduler(**kw)
    return str(raised.value)


def test_a_plain_tcp_scheduler_is_refused_with_what_it_would_expose(golden, monkeypatch):
    for name in tls.SETTINGS.values():
        monkeypatch.delenv(name, raising=False)
    messages = [refusal(address="tcp://grading-head:8786"), refusal(address="grading-head:8786"),
                refusal(address="tls://grading-head:8786"),
                refusal(address="tls://grading-head:8786", ca="/nonexistent/ca.pem",
                        cert="/nonexistent/cert.pem", key="/nonexistent/key.pem"),
                refusal(address="ws://grading-head:8786")]
    golden("grade_tls.txt", "\n\n".join(messages) + "\n")
    assert "--insecure-plain-tcp" in messages[0] and "course secret" in messages[0]


def test_plain_tcp_only_with_the_explicit_flag_and_a_warning(capsys):
    assert tls.for_scheduler("tcp://127.0.0.1:8786", insecure_plain_tcp=True) is None
    assert tls.PLAIN_TCP_EXPOSES in capsys.readouterr().out


def test_tls_takes_flags_over_settings(tmp_path, monkeypatch):
    made = tls.make(tmp_path / "creds")
    for role, name in tls.SETTINGS.items():
        monkeypatch.setenv(name, getattr(made, role))
    security = tls.for_scheduler("tls://127.0.0.1:8786")
    assert security.require_encryption and security.tls_ca_file == made.ca
    assert security.tls_client_key == made.key
    other = tls.make(tmp_path / "other")
    assert tls.for_scheduler("tls://h:1", ca=other.ca).tls_ca_file == other.ca


def test_made_credentials_are_private(tmp_path):
    made = tls.make(tmp_path / "creds")
    assert stat.S_IMODE(os.stat(tmp_path / "creds").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(made.key).st_mode) == 0o600
    assert "PRIVATE KEY" in open(made.key).read() and "CERTIFICATE" in open(made.cert).read()


def test_help_names_the_settings_and_what_plain_tcp_exposes():
    text = " ".join(cli.parser().format_help().split())
    for name in (*tls.SETTINGS.values(), *tls.FLAGS.values(), tls.INSECURE_FLAG):
        assert name in text
    assert " ".join(tls.PLAIN_TCP_EXPOSES.split()) in text


def test_the_local_pool_credentials_exist_only_in_memory():
    security = tls.local_pool()
    assert security.require_encryption
    assert security.tls_ca_file.startswith("-----BEGIN CERTIFICATE")  # PEM text, not a path
    assert "PRIVATE KEY" in security.tls_worker_key


def mine():
    return clustercheck.inspect_here()


def test_the_cluster_check_names_each_problem_and_its_fix(cifar_dir, tmp_path, monkeypatch):
    client = mine()
    assert client["data"] is None
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path))
    assert mine()["data"] == f"{tmp_path} lacks data_batch_1, data_batch_2, data_batch_3, " \
                             "data_batch_4, data_batch_5, test_batch"
    no_kit = {"host": "h", "data": "CIFAR10_DIR is not set",
              "packages": {"cnnkit": client["packages"]["cnnkit"],
                           "cnnkit_grader": {"path": "/old/cnnkit_grader", "digest": "0" * 16},
                           "cnnkit_tools": {"error": "ModuleNotFoundError: No module named 'cnnkit_tools'"}}}
    on_scheduler = clustercheck.problems(client, "the scheduler", no_kit, needs_data=False)
    assert len(on_scheduler) == 2
    assert on_scheduler[0].startswith("the scheduler imports another cnnkit_grader (/old/cnnkit_grader")
    assert "cannot import cnnkit_tools" in on_scheduler[1] and "PYTHONPATH" in on_scheduler[1]
    on_worker = clustercheck.problems(client, "worker tls://w:1", no_kit, needs_data=True)
    assert on_worker[-1] == ("worker tls://w:1 has no CIFAR-10: CIFAR10_DIR is not set (set "
                             "CIFAR10_DIR to a folder holding cifar-10-batches-py/)")
    assert clustercheck.problems(client, "worker x", {**client, "data": None}, needs_data=True) == []


def test_the_check_travels_by_value(tmp_path):
    """A process without the kit (a scheduler started without it on its path) runs the check
    that says so, instead of failing to unpickle it."""
    import subprocess
    import sys

    from distributed.protocol.pickle import dumps

    reader = ("import pickle, sys; report = pickle.loads(sys.stdin.buffer.read())(); "
              "print(report['packages']['cnnkit_tools'])")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", reader], input=dumps(clustercheck.inspect_here),
                          capture_output=True, cwd=tmp_path, env=env)
    assert done.stdout.decode().strip() == \
        "{'error': \"ModuleNotFoundError: No module named 'cnnkit_tools'\"}", done.stderr.decode()
