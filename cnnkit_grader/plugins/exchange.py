"""nbgrader's collect, never following a link a student left in the exchange.

The inbound folder of nbgrader's exchange is writable by every student. nbgrader's collect
copies a submission with ``shutil.copytree``, which follows links, as the instructor: a link
to the gradebook, the source or a root-only file would be copied in as a regular file, and a
submission folder that is itself a link would bring in whatever folder it points to.
``SafeCollect`` (``c.ExchangeFactory.collect`` in ``nbgrader_config.py``) refuses a submission
folder that is a link, and copies the rest by directory descriptors (``files.copy_tree``):
links, FIFOs, sockets, devices and folders nested too deep are refused and logged, and nothing
swapped in while the copy runs is followed.

A hub that serves the exchange over HTTP with ngshare (``CNNKIT_NGSHARE_URL``) collects with
``exchange_ngshare.SafeNgshareCollect`` instead: the same limits, applied to files that arrive
as data. ``configure`` makes that choice, for the course's nbgrader_config.py and the hub's.

The folder's name says whose submission it is and when it was made, and every student can
write any name there. nbgrader only warns when the owner is not the student named, and stops
the whole collect on a name it cannot read. ``SafeCollect`` collects a folder only when:

- its name reads as ``STUDENT+ASSIGNMENT+TIME`` and STUDENT is a plain account name (no
  pattern characters: nbgrader passes it on to commands as ``--student``);
- its owner is that student's account, or the account collecting (a course that makes the
  exchange's folders itself, as the tests and the benchmarks do);
- its time is no later than now, and no earlier than the folder's own change time allows
  (ctime, which no user can set back): a student can neither stamp a submission in the future
  nor backdate one, to get past the on-submit limits or the due date.

Other folders are skipped and logged, and every other student is still collected. What is
collected carries the folder name's time in its ``timestamp.txt``, not the one inside.
"""

import datetime
import fnmatch
import os
import pwd
import re
import stat

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc

from cnnkit_grader.boundary import files


NGSHARE_URL_VAR = "CNNKIT_NGSHARE_URL"


def configure(c, environ=os.environ):
    """Choose the exchange in an nbgrader config: ngshare when $CNNKIT_NGSHARE_URL names it
    (students' and graders' servers alike), else nbgrader's folder; the kit's collect either way.

    A course's nbgrader_config.py is read after any global one, so setting the collect here
    without choosing the exchange here too would undo an ngshare set up elsewhere.
    """
    url = environ.get(NGSHARE_URL_VAR)
    if url:
        from ngshare_exchange import configureExchange

        configureExchange(c, url)
        c.ExchangeFactory.collect = "cnnkit_grader.plugins.exchange_ngshare.SafeNgshareCollect"
    else:
        c.ExchangeFactory.collect = "cnnkit_grader.plugins.exchange.SafeCollect"
    return url


STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
CLOCK_SKEW = datetime.timedelta(minutes=2)    # how far a submission's time may run ahead of now
MADE_WITHIN = datetime.timedelta(minutes=10)  # ... and fall before the folder's change time
REFUSED = "\0refused"                         # no account name holds a NUL byte


class SafeCollect(ExchangeCollect):
    def _path_to_record(self, path):
        """nbgrader's record of an inbound folder, or, for one not to trust, a record under a name
        of its own: nbgrader keeps each student's newest record, so a forged folder must never
        stand in the named student's group (it would hide their real submission)."""
        filename = os.path.basename(path)
        why = self._distrust(path, filename)
        if why:
            self.log.error("not collected: %s (%s)", filename, why)
            return {"username": f"{REFUSED}{filename}", "filename": filename, "timestamp": datetime.datetime.min}
        return super()._path_to_record(path)

    def _distrust(self, path, filename):
        """Why this inbound folder is not to be collected, or None."""
        parts = filename.rsplit("+", 3)
        if len(parts) < 3:
            return "the name is not STUDENT+ASSIGNMENT+TIME"
        student = parts[0]
        if not STUDENT_ID.fullmatch(student):
            return "the student id is not a plain account name"
        try:
            made = parse_utc(parts[2])
        except Exception:  # nbgrader's parser raises several kinds
            return "its time does not read as a date"
        try:
            info = os.lstat(path)
        except OSError:
            return "it is gone"
        try:
            account = pwd.getpwnam(student).pw_uid
        except KeyError:
            account = None
        if info.st_uid not in (os.geteuid(), account):
            return f"it is owned by uid {info.st_uid}, not by {student}"
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        if made > now + CLOCK_SKEW:
            return "its time is in the future"
        changed = datetime.datetime.fromtimestamp(info.st_ctime, datetime.timezone.utc).replace(tzinfo=None)
        if made < changed - MADE_WITHIN:
            return "its time is earlier than the folder was made"
        return None

    def init_src(self):
        super().init_src()
        self.src_records = [r for r in self.src_records if not r["username"].startswith(REFUSED)]

    def do_copy(self, src, dest, log=None):
        info = os.lstat(src)
        if not stat.S_ISDIR(info.st_mode):
            # Raising here would stop the whole collect; the other students must still be collected.
            self.log.error("not collected: %s is a link or not a folder (a student may be trying to "
                           "submit someone else's files)", src)
            return
        os.makedirs(dest)
        taken = files.copy_tree(src, dest, limits(self.coursedir), skip=ignored(self.coursedir))
        if taken.refused:
            self.log.warning("not collected from %s: %s", src, ", ".join(taken.refused))
        # The time nbgrader grades lateness by is the name's, checked above, not a file's inside.
        stamp = os.path.join(dest, "timestamp.txt")
        if os.path.lexists(stamp):
            os.unlink(stamp)
        with open(stamp, "x") as out:
            out.write(os.path.basename(src).rsplit("+", 3)[2])


def limits(coursedir):
    """nbgrader's own size settings (max_file_size, max_dir_size: kB), and at most 10,000 files."""
    max_bytes = int(1000 * coursedir.max_file_size) if coursedir.max_file_size else 2**40
    return files.Limits(files=10_000, file_bytes=max_bytes, total_bytes=1000 * max(coursedir.max_dir_size, 1))


def ignored(coursedir):
    """The names nbgrader's CourseDirectory.ignore leaves out of a submission."""
    return lambda name: any(fnmatch.fnmatch(name, pattern) for pattern in coursedir.ignore)
