"""nbgrader's collect through ngshare, with the kit's limits on what a submission may hold.

ngshare (a JupyterHub service) keeps the exchange in its own database and storage, so no
student can plant a link in it. What a submission holds still comes from the student: its
file names and sizes pass through the server and ngshare_exchange writes them where they
say (``os.path.join(dest, path)``). ``SafeNgshareCollect`` writes them with
``files.write_encoded`` instead: plain relative names only, nbgrader's size settings and
ignore patterns, every file new inside the submission's own folder.

Imported only when ``CNNKIT_NGSHARE_URL`` is set (``nbgrader_config.py``); ngshare_exchange
reads ``$USER`` or ``$JUPYTERHUB_USER`` when it is imported.
"""

import os

from ngshare_exchange import ExchangeCollect

from cnnkit_grader.boundary import files
from cnnkit_grader.plugins.exchange import ignored, limits


class SafeNgshareCollect(ExchangeCollect):
    def do_copy(self, src, dest):
        # ngshare_exchange removed an older copy already (collect --update); dest is new here.
        os.makedirs(dest)
        taken = files.write_encoded(src, dest, limits(self.coursedir), skip=ignored(self.coursedir))
        if taken.refused:
            self.log.warning("not collected into %s: %s", dest, ", ".join(taken.refused))
