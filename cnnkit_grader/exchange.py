"""nbgrader's collect, never following a link a student left in the exchange.

The inbound folder of nbgrader's exchange is writable by every student. nbgrader's collect
copies a submission with ``shutil.copytree``, which follows links, as the instructor: a link
to the gradebook, the source or a root-only file would be copied in as a regular file, and a
submission folder that is itself a link would bring in whatever folder it points to.
``SafeCollect`` (``c.ExchangeFactory.collect`` in ``nbgrader_config.py``) refuses a submission
folder that is a link, and copies the rest by directory descriptors (``files.copy_tree``):
links, FIFOs, sockets, devices and folders nested too deep are refused and logged, and nothing
swapped in while the copy runs is followed.
"""

import fnmatch
import os
import stat

from nbgrader.exchange.default.collect import ExchangeCollect

from . import files


class SafeCollect(ExchangeCollect):
    def do_copy(self, src, dest, log=None):
        info = os.lstat(src)
        if not stat.S_ISDIR(info.st_mode):
            # Raising here would stop the whole collect; the other students must still be collected.
            self.log.error("not collected: %s is a link or not a folder (a student may be trying to "
                           "submit someone else's files)", src)
            return
        os.makedirs(dest)
        max_bytes = int(1000 * self.coursedir.max_file_size) if self.coursedir.max_file_size else 2**40
        limits = files.Limits(files=10_000, file_bytes=max_bytes, total_bytes=1000 * max(self.coursedir.max_dir_size, 1))
        taken = files.copy_tree(src, dest, limits,
                                skip=lambda name: any(fnmatch.fnmatch(name, g) for g in self.coursedir.ignore))
        if taken.refused:
            self.log.warning("not collected from %s: %s", src, ", ".join(taken.refused))
