"""nbgrader settings for everyone on the course hub: students, instructors and the grader.

The hub puts this folder on every server's JUPYTER_CONFIG_PATH (hub/jupyterhub_config.py),
where a hub on its own machine would use /etc/jupyter/nbgrader_config.py. It follows
nbgrader's documented multi-course setup: JupyterHub groups say who takes and who grades
which course, and the exchange keeps each course in its own folder.
"""

import os

from nbgrader.auth import JupyterHubAuthPlugin

from cnnkit_grader.plugins import exchange

c = get_config()  # noqa: F821 - nbgrader defines get_config when it loads this file

# Courses come from the user's JupyterHub groups: nbgrader-<course> (students) and
# formgrade-<course> (instructors and the grader account).
c.Authenticator.plugin_class = JupyterHubAuthPlugin
c.Exchange.path_includes_course = True
c.Exchange.root = os.environ["NBGRADER_EXCHANGE_ROOT"]
# ngshare instead of that folder when the hub runs it (CNNKIT_NGSHARE_URL); the kit's collect.
exchange.configure(c)

# nbgrader's default of 30 s per cell would stop a student's validation mid-training.
c.Execute.timeout = int(os.environ.get("CNNKIT_CELL_TIMEOUT", 600))
