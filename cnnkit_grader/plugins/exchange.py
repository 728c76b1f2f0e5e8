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
"""

import fnmatch
import os
import stat

from nbgrader.exchange.default.collect import ExchangeCollect

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


class SafeCollect(ExchangeCollect):
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


def limits(coursedir):
    """nbgrader's own size settings (max_file_size, max_dir_size: kB), and at most 10,000 files."""
    max_bytes = int(1000 * coursedir.max_file_size) if coursedir.max_file_size else 2**40
    return files.Limits(files=10_000, file_bytes=max_bytes, total_bytes=1000 * max(coursedir.max_dir_size, 1))


def ignored(coursedir):
    """The names nbgrader's CourseDirectory.ignore leaves out of a submission."""
    return lambda name: any(fnmatch.fnmatch(name, pattern) for pattern in coursedir.ignore)
