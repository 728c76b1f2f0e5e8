"""Who may talk to the grader's Dask cluster: only holders of the batch's or the cluster's
certificates.

A Dask scheduler runs any function a connected client sends it, and its workers run it as
their own user; the tasks carry ``source/`` (solutions, hidden tests) and the course's
secret. So every cluster ``./kit grade`` uses is TLS with mutual authentication and
required encryption:

* the local pool: ``Security.temporary()``, a key and certificate made per batch that exist
  only in memory (no key file is ever written) and reach the pool's workers through their
  nanny's pipe; a peer without them gets no Dask handshake;
* ``--scheduler tls://HOST:PORT``: the cluster's own certificates, from ``--tls-ca``,
  ``--tls-cert``, ``--tls-key`` or the settings ``CNNKIT_GRADE_TLS_CA``,
  ``CNNKIT_GRADE_TLS_CERT``, ``CNNKIT_GRADE_TLS_KEY`` (a flag wins over its setting);
* a plain ``tcp://`` scheduler only with ``--insecure-plain-tcp``, which says what it
  exposes (:data:`PLAIN_TCP_EXPOSES`).

``python -m cnnkit_tools.grade.tls make DIR`` writes credentials for a small cluster
(``ca.pem``, ``cert.pem``, ``key.pem``: one self-signed certificate for every role, as
``Security.temporary()`` makes; the folder 0700, the key 0600). A site with its own
certificate authority uses its own instead.
"""

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

SETTINGS = {"ca": "CNNKIT_GRADE_TLS_CA", "cert": "CNNKIT_GRADE_TLS_CERT", "key": "CNNKIT_GRADE_TLS_KEY"}
FLAGS = {"ca": "--tls-ca", "cert": "--tls-cert", "key": "--tls-key"}
INSECURE_FLAG = "--insecure-plain-tcp"
PLAIN_TCP_EXPOSES = (
    "a plain tcp:// cluster is unauthenticated and unencrypted: anyone who can reach its ports "
    "reads source/ (solutions and hidden tests), the course secret and every submission as they "
    "travel, and can run any code on the scheduler and the workers as the user they run as")


class Refused(Exception):
    """./kit grade will not start grading; the message says what to fix."""


@dataclass(frozen=True)
class Credentials:
    """Paths of the PEM files a client presents to a TLS cluster."""
    ca: str
    cert: str
    key: str

    def security(self):
        from distributed.security import Security

        return Security(tls_ca_file=self.ca, tls_client_cert=self.cert, tls_client_key=self.key,
                        require_encryption=True)


def local_pool():
    """The local pool's credentials: made for this batch, in memory only, TLS required."""
    from distributed.security import Security

    security = Security.temporary()
    assert security.require_encryption
    return security


def configured(ca=None, cert=None, key=None, environ=None):
    """Credentials from the flags, else the settings; Refused naming what is missing."""
    environ = os.environ if environ is None else environ
    given = {"ca": ca, "cert": cert, "key": key}
    paths = {role: given[role] or environ.get(SETTINGS[role]) for role in SETTINGS}
    missing = [role for role, path in paths.items() if not path]
    if missing:
        raise Refused("a tls:// scheduler needs the cluster's CA certificate, this client's "
                      "certificate and its key; missing: "
                      + ", ".join(f"{FLAGS[r]} or {SETTINGS[r]}" for r in missing))
    unreadable = [f"{FLAGS[r]} {p}" for r, p in paths.items() if not os.access(p, os.R_OK)]
    if unreadable:
        raise Refused("cannot read " + ", ".join(unreadable))
    return Credentials(**paths)


def for_scheduler(address, ca=None, cert=None, key=None, insecure_plain_tcp=False):
    """The Security to connect to ``address`` with (None for an allowed plain tcp://), or
    Refused: tls:// needs credentials; tcp:// needs --insecure-plain-tcp; nothing else."""
    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    if scheme == "tls":
        return configured(ca, cert, key).security()
    if scheme == "tcp":
        if not insecure_plain_tcp:
            raise Refused(f"refusing the plain {address}: {PLAIN_TCP_EXPOSES}. Start the cluster "
                          f"with TLS and pass tls://... (docs/scale.md), or accept that with "
                          f"{INSECURE_FLAG}")
        print(f"warning: {INSECURE_FLAG}: {PLAIN_TCP_EXPOSES}", flush=True)
        return None
    raise Refused(f"unsupported scheduler address {address}: use tls://HOST:PORT")


def make(folder):
    """Write ca.pem, cert.pem and key.pem for a small cluster into folder (0700; key 0600)."""
    from distributed.security import Security

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    temporary = Security.temporary()
    files = {"ca.pem": temporary.tls_ca_file, "cert.pem": temporary.tls_client_cert,
             "key.pem": temporary.tls_client_key}
    for name, text in files.items():
        path = folder / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
        os.chmod(path, 0o600 if name == "key.pem" else 0o644)
    return Credentials(str(folder / "ca.pem"), str(folder / "cert.pem"), str(folder / "key.pem"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.grade.tls")
    parser.add_argument("action", choices=("make",))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    made = make(args.folder)
    print(f"{made.ca}\n{made.cert}\n{made.key}")


if __name__ == "__main__":
    main()
