"""nbgrader's collect, never following a link a student left in the exchange.

The inbound folder of nbgrader's exchange is writable by every student. nbgrader's collect
copies a submission with ``shutil.copytree``, which follows links, as the instructor: a link
to the gradebook, the source or a root-only file would be copied in as a regular file.
``SafeCollect`` (``c.ExchangeFactory.collect`` in ``nbgrader_config.py``) refuses every link,
FIFO, socket and device, logs each, and copies the rest as nbgrader does.
"""

import os
import shutil

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import ignore_patterns

from . import files


class SafeCollect(ExchangeCollect):
    def do_copy(self, src, dest, log=None):
        refused = files.non_regular(src)
        if refused:
            self.log.warning("not collected from %s (links and special files are refused): %s",
                             src, ", ".join(refused))
        nbgrader_ignore = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                          max_file_size=self.coursedir.max_file_size, log=self.log)

        def ignore(directory, names):
            special = [n for n in names if os.path.islink(os.path.join(directory, n))
                       or not (os.path.isfile(os.path.join(directory, n)) or os.path.isdir(os.path.join(directory, n)))]
            return set(special) | set(nbgrader_ignore(directory, [n for n in names if n not in special]))

        shutil.copytree(src, dest, symlinks=True, ignore=ignore)
